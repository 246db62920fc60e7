"""A study's flags: the parser (with the study's own budgets and metric), YAML --config, --set, --objectives."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mgen.errors import UserError
from mgen.metrics.registry import check_mode
from mgen.study.options import StudyOptions
from mgen.study.space import SCHEDULERS, SEARCHES
from mgen.study.storage import MIN_FREE_MB_DEFAULT
from mgen.train.config import load_yaml, read_yaml_mapping

if TYPE_CHECKING:
    from mgen.study.plan import StudySpec


def build_parser(spec: StudySpec) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python studies/{spec.name}.py", description=spec.description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Locally this starts its own Ray on 127.0.0.1. On a cluster: RAY_AUTH_MODE=token ray job submit "
               f"--address http://127.0.0.1:8265 --working-dir . -- python studies/{spec.name}.py --storage /shared/results")
    p.add_argument("--config", help="YAML file setting any of these flags by long name (e.g. num_samples: 8) "
                                    "and trial-config fields under `set:`; flags given override it")
    p.add_argument("--budget", choices=list(spec.budgets), default="smoke",
                   help="smoke: minutes on 2 CPU cores; small: an hour or so; full: what a GPU cluster runs")
    p.add_argument("--data", default=spec.default_data, help="bach|celtic|fiddle|essen|midi:PATH|motifs|ring|grid")
    p.add_argument("--search", choices=SEARCHES, help="search algorithm (default: the budget's; random if it names none)")
    p.add_argument("--num-samples", type=int, help="trials (random/optuna) or grid repeats (default: the budget's)")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="fifo", help="trial scheduler (asha stops weak trials early)")
    p.add_argument("--metric", default=spec.metric,
                   help="the study metric: best trial, ASHA and Optuna use it (healthy_coverage: coverage, minus 1 "
                        "when the generator collapsed or failed, so a healthy trial always ranks first)")
    p.add_argument("--mode", choices=["max", "min"],
                   help="whether the metric is maximised (default: its declared direction; a contrary one is refused)")
    p.add_argument("--objectives", help="Optuna multi-objective, e.g. coverage:max,music_overlap:max")
    p.add_argument("--collapse-patience", type=int, default=3,
                   help="stop a trial after this many consecutive collapsed evaluations")
    p.add_argument("--no-collapse-stop", action="store_true", help="never stop trials for collapse")
    if spec.references:
        p.add_argument("--no-references", action="store_true",
                       help=f"skip the reference rows ({', '.join(m.upper() for m in spec.references)} recipes, once per seed)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions share a GPU, e.g. 0.25")
    p.add_argument("--max-concurrent", type=int, help="trials running at once (default: as resources allow)")
    p.add_argument("--population", type=int, metavar="P",
                   help="train up to P compatible trials with one D/G schedule at once as one batched model, each "
                        "still its own trial (on a GPU its group holds P trials' shares, at most one GPU; on CPUs "
                        "one trial's CPUs); default: the budget's (1, each trial alone, unless it says)")
    p.add_argument("--population-wait", type=float, default=10.0, metavar="SECONDS",
                   help="start a population with fewer than P trials when no other joined for this long")
    p.add_argument("--storage", help="results folder or URI (s3://...); default: $MGEN_RESULTS or ./results")
    p.add_argument("--min-free-mb", type=float, default=MIN_FREE_MB_DEFAULT,
                   help="refuse to start when a local --storage has less free space than this")
    p.add_argument("--name", help="study name (default: study-data-budget-time); --resume with it")
    p.add_argument("--resume", action="store_true", help="continue an interrupted study (latest if --name is not given)")
    p.add_argument("--no-reuse-actors", action="store_true",
                   help="a fresh worker process per trial (default: workers are reused; metrics are the same)")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a failed trial, from its last checkpoint")
    p.add_argument("--keep-checkpoints", type=int, default=1, metavar="N",
                   help="checkpoints kept a trial: its last N, its best by the study metric and those Tune's latest "
                        "experiment snapshots name (resume stays exact); 0 keeps every one")
    p.add_argument("--no-wandb", action="store_true", help="no W&B logging (else offline unless WANDB_API_KEY is set)")
    p.add_argument("--verbose", action="store_true",
                   help="Ray Tune's own status and result tables and the trial workers' log lines (default: a line per trial)")
    p.add_argument("--wandb-project", default="mgen")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="trial-config field for every trial, e.g. --set batch_size=32 (repeatable)")
    p.add_argument("--only", action="append", default=[], metavar="DIM=V1,V2",
                   help="a slice of the space: the searched dimension DIM takes only these of its values (repeatable), "
                        "e.g. --only seed=0,1 --only variant=gan/1:1,gan/5:1")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (random and Optuna samples repeat with the same seed)")
    p.add_argument("--num-cpus", type=int, help="local Ray only: CPUs to use (default: all)")
    p.add_argument("--address", help="join this Ray cluster (e.g. 127.0.0.1:6379 or ray://host:10001); default: "
                                     "$RAY_ADDRESS if set (as in a submitted job), else a private local Ray")
    return p


def parse_args(spec: StudySpec, argv: list[str] | None = None) -> StudyOptions:
    """The study's options as the flags (and a --config file) give them, not yet resolved (options.resolve)."""
    parser = build_parser(spec)
    args = parser.parse_args(argv)
    if args.config:
        path = Path(args.config)
        values = read_yaml_mapping(args.config, label="--config", keys="flag")
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"--config {path}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known - {'help', 'config'}))}")
        explicit = parser.parse_args(argv, namespace=argparse.Namespace(**{k: None for k in known}))
        for key, value in values.items():
            if key == "set":  # merged field by field; a --set on the command line wins
                value = list(value.items()) if isinstance(value, dict) else list(value)
                setattr(args, key, value + list(explicit.set or []))
            elif getattr(explicit, key) is None:  # a flag given on the command line wins
                setattr(args, key, value)
    return StudyOptions.from_flags(vars(args))


def parse_sets(items) -> dict[str, Any]:
    out = {}
    for item in items:
        if isinstance(item, tuple):  # (field, value) from a YAML --config's `set:`
            out[item[0]] = item[1]
            continue
        key, sep, value = str(item).partition("=")
        if not sep:
            raise UserError(f"--set {item!r} is invalid; write FIELD=VALUE, e.g. --set batch_size=32")
        try:
            out[key.strip()] = load_yaml(value)
        except yaml.YAMLError:  # keep the text as written
            out[key.strip()] = value
    return out


def parse_only(items) -> dict[str, list[Any]]:
    """--only DIM=V1,V2 (repeatable) -> {dim: [values]}, each value read as YAML (1e-3 a float, 1:5 as written)."""
    out = {}
    for item in items:
        key, sep, values = str(item).partition("=")
        if not sep or not values.strip():
            raise UserError(f"--only {item!r} is invalid; write DIM=V1,V2, e.g. --only seed=0,1")
        out[key.strip()] = [load_yaml(v.strip()) for v in values.split(",")]
    return out


def parse_objectives(text: str | None) -> list[tuple[str, str]]:
    if not text:
        return []
    out = []
    for part in text.split(","):
        metric, _, mode = part.partition(":")
        if mode not in ("max", "min"):
            raise UserError(f"--objectives {text!r} is invalid; write metric:max or metric:min, comma-separated")
        check_mode(metric.strip(), mode)
        out.append((metric.strip(), mode))
    return out
