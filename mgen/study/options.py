"""A study's options: built once from its flags (or from study_args.json on --resume), resolved once
(the budget's search, the metric's direction, where results go and under which name), then read
everywhere and changed nowhere: a frozen dataclass."""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from mgen.errors import UserError
from mgen.study.storage import MIN_FREE_MB_DEFAULT

if TYPE_CHECKING:
    from mgen.study.plan import StudySpec


@dataclass(frozen=True)
class StudyOptions:
    """Every flag of a study script (mgen/study/flags.py says what each does), as given or resolved."""

    budget: str = "smoke"
    data: str = "bach"
    search: str | None = None  # None: the budget's (resolve)
    num_samples: int | None = None
    scheduler: str = "fifo"
    metric: str = "healthy_coverage"
    mode: str | None = None  # None: the metric's declared direction (resolve)
    objectives: str | None = None
    collapse_patience: int = 3
    no_collapse_stop: bool = False
    no_references: bool = False
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    population: int | None = None  # None: the budget's (resolve; 1, every trial alone, unless it says)
    population_wait: float = 10.0
    storage: str | None = None  # None: $MGEN_RESULTS or ./results (resolve)
    min_free_mb: float = MIN_FREE_MB_DEFAULT
    name: str | None = None  # None: a new name, or the latest study on --resume (resolve)
    resume: bool = False
    no_reuse_actors: bool = False
    max_failures: int = 2
    keep_checkpoints: int = 1  # 0: every checkpoint
    no_wandb: bool = False
    verbose: bool = False
    wandb_project: str = "mgen"
    set: tuple = ()  # "FIELD=VALUE" strings, or (field, value) pairs from a YAML --config
    only: tuple = ()  # "DIM=V1,V2" strings
    seed: int = 0
    num_cpus: int | None = None
    address: str | None = None
    config: str | None = None
    resolved: bool = False  # resolve() has filled in the defaults that depend on the study and the machine

    @classmethod
    def from_flags(cls, values: Mapping[str, Any]) -> StudyOptions:
        """From parsed flags or a saved study_args.json. A key no option has (a flag a study of an older mgen
        saved) is left out; --set pairs that JSON turned into lists become pairs again."""
        names = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in names}
        kept["set"] = tuple(tuple(item) if isinstance(item, (list, tuple)) else item for item in kept.get("set") or ())
        kept["only"] = tuple(kept.get("only") or ())
        return cls(**kept)

    def replace(self, **changes) -> StudyOptions:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def resolve(spec: StudySpec, opts: StudyOptions) -> StudyOptions:
    """The options with every default that depends on the study filled in: the budget's search, the metric's
    direction (a contrary --mode is refused), an absolute results folder and the study's name."""
    if opts.resolved:
        return opts
    from mgen.metrics.registry import check_mode, direction

    if opts.budget not in spec.budgets:
        raise UserError(f"--budget {opts.budget!r} is not one of this study's budgets: {', '.join(spec.budgets)}")
    mode = opts.mode or direction(opts.metric)
    check_mode(opts.metric, mode)
    storage = opts.storage or os.environ.get("MGEN_RESULTS") or str(Path.cwd() / "results")
    if "://" not in storage:
        storage = str(Path(storage).expanduser().resolve())
    name = opts.name or (latest_study(storage, spec.name) if opts.resume else
                         f"{spec.name}-{opts.data.split(':')[0]}-{opts.budget}-{time.strftime('%Y%m%d-%H%M%S')}")
    budget = spec.budgets[opts.budget]
    population = opts.population if opts.population is not None else budget.population
    return opts.replace(search=opts.search or budget.search, mode=mode, storage=storage, name=name,
                        population=population, resolved=True)


def latest_study(storage: str, prefix: str) -> str:
    """The newest study folder Tune can restore (one whose start failed before Tune wrote tuner.pkl is not)."""
    root = Path(storage)
    candidates = sorted((p for p in root.glob(f"{prefix}-*") if (p / "tuner.pkl").is_file()),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserError(f"--resume: no restorable {prefix} study in {storage}; pass --name of the study to resume")
    return candidates[-1].name
