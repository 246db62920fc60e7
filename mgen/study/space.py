"""Search spaces without Ray: dimensions a study script declares, budgets, and their Tune form.

A study script names its dimensions with `Choice` and `LogUniform`; `to_tune` turns them into Ray
Tune's grid/choice/loguniform for the chosen search. Study-level parameters (`dg_ratio`,
`conditioning`, `variant`) become trial config fields in mgen/train/params.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mgen.errors import UserError
from mgen.train.config import TrialConfig

# Budgets of the music studies (gan_collapse, baselines): the same data, sizes and steps for every method.
MUSIC_BUDGET_OVERRIDES = {
    # About 5 minutes on 2 CPU cores for gan_collapse's 6 trials: small nets, 1,000 iterations (the
    # reference recipe is healthy on bach by 500-1,000; planted motifs need 3,000-4,500).
    "smoke": {"g_width": 32, "d_width": 32, "z_dim": 32, "batch_size": 32, "steps": 1000, "eval_every": 250,
              "eval_samples": 256},
    # An hour or so on a workstation.
    "small": {"g_width": 64, "d_width": 64, "z_dim": 64, "steps": 6000, "eval_every": 1000, "eval_samples": 1000},
    # What a GPU cluster runs: default sizes, long training.
    "full": {"steps": 20000, "eval_every": 1000, "eval_samples": 5000},
}
SEARCHES = ("grid", "random", "optuna")
SCHEDULERS = ("fifo", "asha")


@dataclass(frozen=True)
class Choice:
    values: tuple


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float
    grid_points: int = 3  # values a grid search takes, log-spaced from low to high

    def grid(self) -> list[float]:
        if self.grid_points == 1:
            return [math.sqrt(self.low * self.high)]
        step = (math.log10(self.high) - math.log10(self.low)) / (self.grid_points - 1)
        return [float(f"{10 ** (math.log10(self.low) + i * step):.3g}") for i in range(self.grid_points)]


@dataclass
class Budget:
    """What one budget runs: trial-config overrides, default trial count, and space overrides."""

    overrides: dict[str, Any]
    num_samples: int  # trials for random/optuna; repeats of the whole grid for grid search
    space: dict[str, Any] = field(default_factory=dict)  # replaces dimensions of the study's space
    search: str = "random"  # the search when --search is not given
    population: int = 1  # --population when not given: trials trained P at a time as one model where they pay


def contains(dim, value) -> bool:
    """Is `value` one of a Choice's values, or a number inside a LogUniform's range?"""
    if isinstance(dim, LogUniform):
        return isinstance(value, (int, float)) and dim.low <= value <= dim.high
    return value in dim.values


def grid_values(dim) -> list:
    """The values a grid search takes on a dimension (a constant is its one value)."""
    if isinstance(dim, Choice):
        return list(dim.values)
    if isinstance(dim, LogUniform):
        return dim.grid()
    return [dim]


def values_of(dim) -> list:
    if isinstance(dim, Choice):
        return list(dim.values)
    if isinstance(dim, LogUniform):
        return [dim.low, dim.high]
    return [dim]


def validate_space(space: dict[str, Any], fixed: dict[str, Any]) -> TrialConfig:
    """Fail before any cluster work: every value of every dimension must make a valid trial config."""
    base = TrialConfig.from_params(fixed)
    for name, dim in space.items():
        if isinstance(dim, LogUniform) and not 0 < dim.low < dim.high:
            raise UserError(f"search range of {name} is invalid: need 0 < low < high, got {dim.low}..{dim.high}")
        for value in values_of(dim):
            TrialConfig.from_params({**fixed, name: value})
    return base


def sample_points(space: dict[str, Any], n: int, seed: int, grouped: bool = False) -> list[dict[str, Any]]:
    """n points of a random search, drawn up front from `seed` (a Choice uniformly, a LogUniform
    log-uniformly), each naming every searched dimension.

    grouped: in the order of their categorical settings (every Choice but the seed), so that the trials
    a population can train together (same schedule and footing, other learning rates and seeds) arrive
    together; the broker gathers them from the trials that have started (mgen/study/population.py), and
    in the order drawn a 150-trial atlas over 30 such cells left it about one member a group."""
    import numpy as np

    rng = np.random.default_rng(seed)
    searched = {k: d for k, d in space.items() if isinstance(d, (Choice, LogUniform))}
    points = []
    for _ in range(n):
        point = {}
        for name, dim in searched.items():
            if isinstance(dim, Choice):
                value = dim.values[int(rng.integers(len(dim.values)))]
                point[name] = value.item() if hasattr(value, "item") else value
            else:
                point[name] = float(10 ** rng.uniform(math.log10(dim.low), math.log10(dim.high)))
        points.append(point)
    if grouped:
        cells = [k for k, d in searched.items() if isinstance(d, Choice) and k != "seed"]
        order = {k: {repr(v): i for i, v in enumerate(searched[k].values)} for k in cells}
        points.sort(key=lambda p: tuple(order[k][repr(p[k])] for k in cells))  # stable: drawn order within a cell
    return points


def to_tune(space: dict[str, Any], search: str) -> dict[str, Any]:
    """The space as a Ray Tune param_space for grid, random or Optuna search."""
    from ray import tune

    out = {}
    for name, dim in space.items():
        if not isinstance(dim, (Choice, LogUniform)):
            out[name] = dim
        elif search == "grid":
            out[name] = tune.grid_search(grid_values(dim))
        else:
            out[name] = tune.choice(list(dim.values)) if isinstance(dim, Choice) else tune.loguniform(dim.low, dim.high)
    return out
