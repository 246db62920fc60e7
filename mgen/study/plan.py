"""What a study declares (StudySpec) and what one run of it will do (Plan), checked before Ray starts:
the space and fixed settings, the positive controls, where results go and under which name."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mgen.errors import UserError
from mgen.study.flags import parse_objectives, parse_only, parse_sets
from mgen.study.options import StudyOptions, resolve
from mgen.study.space import Budget, Choice, LogUniform, contains, grid_values, validate_space, values_of
from mgen.train.params import REFERENCE, expand
from mgen.train.config import FOOTING, TrialConfig


@dataclass
class StudySpec:
    """What a study script declares: its search space, fixed settings and budgets."""

    name: str
    description: str
    space: dict[str, Any]  # dimension name -> Choice / LogUniform / constant
    budgets: dict[str, Budget]
    fixed: dict[str, Any] = field(default_factory=dict)  # trial-config fields set for every trial
    metric: str = "healthy_coverage"  # coverage, minus 1 when collapsed or failed (mgen.metrics.registry)
    default_data: str = "bach"
    table: tuple[list[str], list[str]] | None = None  # (group-by params, metrics): a mean +- sd table at the end
    # The positive control: study-level params of a recipe known to learn (a trial whose config has
    # them is a control). The study runs it once per seed; the summary says when a control failed.
    control: dict[str, Any] | None = None
    # Reference rows: these methods' recipes (mgen.train.config.RECIPES) run once per seed on the study's
    # own footing (data, sizes, budget, output, seeds), so a GAN map shows at once whether it beats them.
    references: tuple[str, ...] = ()


@dataclass
class Plan:
    """Everything a study needs, checked before Ray starts."""

    spec: StudySpec
    options: StudyOptions  # resolved: its search, mode, storage and name are set
    fixed: dict[str, Any]
    space: dict[str, Any]
    num_samples: int
    storage: str
    name: str
    objectives: list[tuple[str, str]]
    controls: list[dict[str, Any]] = field(default_factory=list)  # control configs the search must add
    references: list[dict[str, Any]] = field(default_factory=list)  # reference-row configs the search must add

    @property
    def local_storage(self) -> Path | None:
        return None if "://" in self.storage else Path(self.storage)

    @property
    def study_metric(self) -> tuple[str, str]:
        """(metric, mode) that ranks trials: the first of --objectives, else --metric and its mode."""
        return self.objectives[0] if self.objectives else (self.options.metric, self.options.mode)


def plan_study(spec: StudySpec, options: StudyOptions) -> Plan:
    """Check the options against the study and say what the run will do; nothing here starts Ray."""
    opts = resolve(spec, options)
    budget = spec.budgets[opts.budget]
    sets = parse_sets(opts.set)
    fixed = {**spec.fixed, **budget.overrides, "data": opts.data, **sets}
    if opts.gpus_per_trial > 0:
        fixed["device"] = "cuda"
    space = {**spec.space, **budget.space}
    for key in list(space):
        if key in sets:  # a --set field is fixed, not searched
            del space[key]
    for key, values in parse_only(opts.only).items():
        if key in sets:
            raise UserError(f"--only {key} and --set {key} contradict each other; give one of them")
        space[key] = only_values(space, key, values, spec.space)
    validate_space(space, fixed)
    objectives = parse_objectives(opts.objectives)
    if objectives and opts.search != "optuna":
        raise UserError("--objectives needs --search optuna (grid and random search have no objective)")
    if opts.cpus_per_trial <= 0 or opts.gpus_per_trial < 0:
        raise UserError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if opts.keep_checkpoints < 0:
        raise UserError(f"--keep-checkpoints {opts.keep_checkpoints} is invalid; give 1 or more (the last N a trial), "
                        "or 0 to keep every checkpoint")
    if opts.population < 1 or opts.population_wait < 0:
        raise UserError("--population must be 1 or more (1: every trial trains alone) and --population-wait >= 0")
    if opts.gpus_per_trial > 0 and not (opts.address or os.environ.get("RAY_ADDRESS")):
        import torch  # a private local Ray has this machine's GPUs; a cluster's are checked once joined

        if torch.cuda.device_count() < opts.gpus_per_trial:
            raise UserError(f"--gpus-per-trial {opts.gpus_per_trial:g}: this machine has {torch.cuda.device_count()} "
                            "CUDA GPU(s); leave it out to train on the CPU, or join a cluster with GPUs (--address)")
    num_samples = opts.num_samples if opts.num_samples is not None else budget.num_samples
    if num_samples < 1:
        raise UserError(f"--num-samples {num_samples} is invalid; give 1 or more")
    references = []
    if spec.references and not opts.no_references:
        space = {"variant": "gan", **space}  # the study's own trials; its reference rows say which method
        references = reference_points(spec, fixed, space, opts.search)
        for point in references:
            TrialConfig.from_params({**fixed, **point})  # a --set that breaks a recipe fails here
    return Plan(spec, opts, fixed, space, num_samples, opts.storage, opts.name, objectives,
                control_points(spec, fixed, space, opts.search), references)


def only_values(space: dict[str, Any], key: str, values: list, study_space: dict[str, Any] | None = None) -> Choice:
    """--only KEY=values: the searched dimension KEY restricted to `values`, each one it allows.

    A dimension of the study that the budget fixes (the smoke grid's seed 0, say) takes any values the
    study's own space allows; `seed` takes any non-negative integers (a seed has no range).
    """
    study_space = study_space or {}
    if key == "seed":
        bad = [v for v in values if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0)]
        if bad:
            raise UserError(f"--only seed={bad[0]!r} is invalid; seeds are integers from 0")
        return Choice(tuple(values))
    if key in study_space and not isinstance(space.get(key), (Choice, LogUniform)):
        space = {**space, key: study_space[key]}
    if key not in space or not isinstance(space[key], (Choice, LogUniform)):
        searched = [k for k, d in space.items() if isinstance(d, (Choice, LogUniform))]
        raise UserError(f"--only {key}: not a searched dimension of this study and budget; searched: {', '.join(searched)}")
    dim = space[key]
    for value in values:
        if not contains(dim, value):
            shown = ", ".join(map(str, dim.values)) if isinstance(dim, Choice) else f"{dim.low:g} to {dim.high:g}"
            raise UserError(f"--only {key}={value!r} is not one of its values; valid: {shown}")
    return Choice(tuple(values))


def control_points(spec: StudySpec, fixed: dict, space: dict, search: str) -> list[dict[str, Any]]:
    """The positive-control configs (one per seed of the space) the search must add: none when the study
    has no control, when a fixed setting contradicts it (e.g. --set d_norm=none), or when a grid
    already holds it."""
    if not spec.control:
        return []
    if any(key not in space and key in fixed and fixed[key] != value for key, value in spec.control.items()):
        return []
    seeds = values_of(space["seed"]) if "seed" in space else [fixed.get("seed", 0)]
    points = []
    for seed in seeds:
        point = {**spec.control, "seed": seed}
        point = {k: v for k, v in point.items() if k in space}
        if search == "grid" and all(v in grid_values(space[k]) for k, v in point.items()):
            continue  # the grid runs it anyway
        if search == "optuna":
            # Optuna's warm start takes exactly its sampled dimensions (not the budget's constants), each
            # inside its distribution: a control outside an --only slice is not run.
            point = {k: v for k, v in point.items() if isinstance(space[k], (Choice, LogUniform))}
            if all(contains(space[k], v) for k, v in point.items()):
                points.append(point)
            continue
        # A preset point names every searched key, so the grid does not expand around it.
        points.append({**{k: grid_values(d)[0] for k, d in space.items()}, **point})
    return points


def reference_points(spec: StudySpec, fixed: dict, space: dict, search: str) -> list[dict[str, Any]]:
    """One point per reference method and seed: variant "METHOD/reference" and the seed; the space's other
    dimensions, which a recipe does not use, as None or NaN (a preset point must name each searched one, and
    a constant left as it is would show the GAN's value, e.g. its lr_g, in the row's params). None under Optuna,
    whose sampler would learn from rows that are not points of its space."""
    if search == "optuna":
        return []
    seeds = values_of(space["seed"]) if "seed" in space else [fixed.get("seed", 0)]
    # Not used: None, or NaN for a float range (Tune checks a preset float against its bounds). A constant
    # of the space that sets footing (the conditioning a budget fixes) is kept.
    unused = {k: float("nan") if isinstance(d, LogUniform) else None for k, d in space.items()
              if k not in ("seed", "variant") and (isinstance(d, (Choice, LogUniform)) or not footing_only(k, d))}
    return [{**unused, "variant": f"{method}/{REFERENCE}", "seed": seed}
            for method in spec.references for seed in seeds]


def footing_only(key: str, value) -> bool:
    """Does this study-level setting set footing fields alone (e.g. conditioning -> cond, inject)?"""
    try:
        return set(expand({key: value})) <= set(FOOTING)
    except UserError:
        return False


def reference_method(config: dict) -> str | None:
    """The method of a reference row ("vae" for variant "vae/reference"), else None."""
    method, _, rest = str(config.get("variant") or "").partition("/")
    return method if rest == REFERENCE else None


def is_control(spec: StudySpec, config: dict) -> bool:
    """Does this trial's config hold the control's study-level params?"""
    if not spec.control or (spec.references and reference_method(config)):
        return False
    mine, control = expand(config), expand({**config, **spec.control})
    return all(mine.get(k) == control.get(k) for k in control)
