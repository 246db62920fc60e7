"""Search spaces without Ray: dimensions a study script declares, study-level parameters, budgets.

A study script names its dimensions with `Choice` and `LogUniform`; `to_tune` turns them into Ray
Tune's grid/choice/loguniform for the chosen search. Three study-level parameters expand into trial
config fields: `dg_ratio` ("5:1" -> d_steps=5, g_steps=1), `conditioning` ("prev+chord/2d" ->
cond="prev+chord", inject="2d"; "none" has no injection, so a grid never runs "none" twice) and
`variant` ("gan/1:5" -> method gan at D:G 1:5; "vae", "imle"; settings of its own after the slash,
"imle/lr_g=1e-3,imle_m=50"; "vae/reference": the method's recipe on the trial's footing alone), so VAE
and IMLE are not repeated over D/G ratios they do not have and each method can run at settings that suit
it. A parameter given as None (or NaN) is left to the recipe (a reference row's point names the searched
dimensions, which it does not use, so). A study that fixes the spectral normalisation's scale and
warm-up (the reference recipe's) and crosses `d_norm` with "none" gets, for "none", no scale or warm-up:
they qualify spectral normalisation only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mgen.errors import UserError
from mgen.models import CONDITIONS, INJECTIONS
from mgen.train.config import FOOTING, TrialConfig, load_yaml

REFERENCE = "reference"  # variant "vae/reference": that method's recipe on the trial's footing (a reference row)

DG_RATIOS = ("5:1", "2:1", "1:1", "1:2", "1:5")
CONDITIONINGS = ("none",) + tuple(f"{c}/{i}" for c in CONDITIONS[1:] for i in INJECTIONS)
SEARCHES = ("grid", "random", "optuna")

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


def parse_ratio(ratio: str) -> tuple[int, int]:
    try:
        d, g = (int(x) for x in str(ratio).split(":"))
    except ValueError:
        raise UserError(f"dg_ratio {ratio!r} is invalid; write D:G steps, e.g. {', '.join(DG_RATIOS)}") from None
    return d, g


def grid_values(dim) -> list:
    """The values a grid search takes on a dimension (a constant is its one value)."""
    if isinstance(dim, Choice):
        return list(dim.values)
    if isinstance(dim, LogUniform):
        return dim.grid()
    return [dim]


def unset(value) -> bool:
    """A parameter left to the recipe: None, or NaN (a reference row's unused float dimensions)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def expand(params: dict[str, Any]) -> dict[str, Any]:
    """A sampled dict (study-level params included) -> the flat TrialConfig dict."""
    out = {k: v for k, v in params.items() if not unset(v)}
    reference = False
    if "variant" in out:
        method, _, rest = str(out.pop("variant")).partition("/")
        out["method"] = method
        reference = rest == REFERENCE
        if "=" in rest:  # the variant's own settings
            for item in rest.split(","):
                key, _, value = item.partition("=")
                out[key.strip()] = load_yaml(value)
        elif rest and not reference:
            out["dg_ratio"] = rest
    if "dg_ratio" in out:
        out["d_steps"], out["g_steps"] = parse_ratio(out.pop("dg_ratio"))
    if "conditioning" in out:
        value = out.pop("conditioning")
        cond, _, inject = str(value).partition("/")
        if value != "none" and (cond not in CONDITIONS[1:] or inject not in INJECTIONS):
            raise UserError(f"conditioning {value!r} is invalid; valid: {', '.join(CONDITIONINGS)}")
        out["cond"], out["inject"] = cond, inject or "1d"
    if out.get("d_norm") == "none":
        out.pop("d_norm_scale", None)
        out.pop("d_norm_warmup", None)
    if reference:  # the method's recipe decides everything but the footing (TrialConfig.from_dict)
        return {**{k: v for k, v in out.items() if k in FOOTING + ("device",)}, "method": out["method"]}
    return out


def values_of(dim) -> list:
    if isinstance(dim, Choice):
        return list(dim.values)
    if isinstance(dim, LogUniform):
        return [dim.low, dim.high]
    return [dim]


def validate_space(space: dict[str, Any], fixed: dict[str, Any]) -> TrialConfig:
    """Fail before any cluster work: every value of every dimension must make a valid trial config."""
    base = TrialConfig.from_dict(expand(fixed))
    for name, dim in space.items():
        if isinstance(dim, LogUniform) and not 0 < dim.low < dim.high:
            raise UserError(f"search range of {name} is invalid: need 0 < low < high, got {dim.low}..{dim.high}")
        for value in values_of(dim):
            TrialConfig.from_dict(expand({**fixed, name: value}))
    return base


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
