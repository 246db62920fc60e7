"""Running a study on Ray Tune: flags and YAML, validation before Ray starts, the Tuner, resume, summary."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mgen.errors import UserError
from mgen.metrics.collapse import health_status
from mgen.metrics.registry import check_mode, direction
from mgen.study.storage import MIN_FREE_MB_DEFAULT, check_storage, full_disk_named, storage_error, write_atomic
from mgen.study.space import SCHEDULERS, SEARCHES, Budget, expand, grid_values, validate_space, values_of
from mgen.train.config import TrialConfig, load_yaml, read_yaml_mapping

log = logging.getLogger(__name__)
SUMMARY_FILE = "study.json"
ARGS_FILE = "study_args.json"  # the flags a study was started with, reused by --resume


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
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions share a GPU, e.g. 0.25")
    p.add_argument("--max-concurrent", type=int, help="trials running at once (default: as resources allow)")
    p.add_argument("--storage", help="results folder or URI (s3://...); default: $MGEN_RESULTS or ./results")
    p.add_argument("--min-free-mb", type=float, default=MIN_FREE_MB_DEFAULT,
                   help="refuse to start when a local --storage has less free space than this")
    p.add_argument("--name", help="study name (default: study-data-budget-time); --resume with it")
    p.add_argument("--resume", action="store_true", help="continue an interrupted study (latest if --name is not given)")
    p.add_argument("--no-reuse-actors", action="store_true",
                   help="a fresh worker process per trial (default: workers are reused; metrics are the same)")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a failed trial, from its last checkpoint")
    p.add_argument("--no-wandb", action="store_true", help="no W&B logging (else offline unless WANDB_API_KEY is set)")
    p.add_argument("--verbose", action="store_true",
                   help="Ray Tune's own status and result tables and the trial workers' log lines (default: a line per trial)")
    p.add_argument("--wandb-project", default="mgen")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="trial-config field for every trial, e.g. --set batch_size=32 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (random and Optuna samples repeat with the same seed)")
    p.add_argument("--num-cpus", type=int, help="local Ray only: CPUs to use (default: all)")
    p.add_argument("--address", help="join this Ray cluster (e.g. 127.0.0.1:6379 or ray://host:10001); default: "
                                     "$RAY_ADDRESS if set (as in a submitted job), else a private local Ray")
    return p


def parse_args(spec: StudySpec, argv: list[str] | None = None) -> argparse.Namespace:
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
    return args


def parse_sets(items) -> dict[str, Any]:
    out = {}
    for item in items:
        if isinstance(item, tuple):
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


def study_mode(args: argparse.Namespace) -> str:
    """--mode, or --metric's direction from the registry; a --mode that contradicts it is a UserError."""
    mode = args.mode or direction(args.metric)
    check_mode(args.metric, mode)
    return mode


@dataclass
class Plan:
    """Everything a study needs, checked before Ray starts."""

    spec: StudySpec
    args: argparse.Namespace
    fixed: dict[str, Any]
    space: dict[str, Any]
    num_samples: int
    storage: str
    name: str
    objectives: list[tuple[str, str]]
    controls: list[dict[str, Any]] = field(default_factory=list)  # control configs the search must add

    @property
    def local_storage(self) -> Path | None:
        return None if "://" in self.storage else Path(self.storage)


def plan_study(spec: StudySpec, args: argparse.Namespace) -> Plan:
    budget = spec.budgets[args.budget]
    args.search = args.search or budget.search
    fixed = {**spec.fixed, **budget.overrides, "data": args.data, **parse_sets(args.set)}
    if args.gpus_per_trial > 0:
        fixed["device"] = "cuda"
    space = {**spec.space, **budget.space}
    for key in list(space):
        if key in parse_sets(args.set):  # a --set field is fixed, not searched
            del space[key]
    validate_space(space, fixed)
    args.mode = study_mode(args)
    objectives = parse_objectives(args.objectives)
    if objectives and args.search != "optuna":
        raise UserError("--objectives needs --search optuna (grid and random search have no objective)")
    if args.cpus_per_trial <= 0 or args.gpus_per_trial < 0:
        raise UserError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if args.gpus_per_trial > 0 and not (getattr(args, "address", None) or os.environ.get("RAY_ADDRESS")):
        import torch  # a private local Ray has this machine's GPUs; a cluster's are checked once joined

        if torch.cuda.device_count() < args.gpus_per_trial:
            raise UserError(f"--gpus-per-trial {args.gpus_per_trial:g}: this machine has {torch.cuda.device_count()} "
                            "CUDA GPU(s); leave it out to train on the CPU, or join a cluster with GPUs (--address)")
    num_samples = args.num_samples if args.num_samples is not None else budget.num_samples
    if num_samples < 1:
        raise UserError(f"--num-samples {num_samples} is invalid; give 1 or more")
    storage, name = study_location(spec, args)
    return Plan(spec, args, fixed, space, num_samples, storage, name, objectives, control_points(spec, fixed, space, args.search))


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
        # A preset point names every searched key, so the grid does not expand around it.
        points.append({**{k: grid_values(d)[0] for k, d in space.items()}, **point})
    return points


def is_control(spec: StudySpec, config: dict) -> bool:
    """Does this trial's config hold the control's study-level params?"""
    if not spec.control:
        return False
    mine, control = expand(config), expand({**config, **spec.control})
    return all(mine.get(k) == control.get(k) for k in control)


def study_location(spec: StudySpec, args: argparse.Namespace) -> tuple[str, str]:
    """(storage, study name): --storage or $MGEN_RESULTS or ./results; --name, the latest on --resume, or a new one."""
    storage = args.storage or os.environ.get("MGEN_RESULTS") or str(Path.cwd() / "results")
    if "://" not in storage:
        storage = str(Path(storage).expanduser().resolve())
    if not args.name:
        args.name = (latest_study(storage, spec.name) if args.resume else
                     f"{spec.name}-{args.data.split(':')[0]}-{args.budget}-{time.strftime('%Y%m%d-%H%M%S')}")
    return storage, args.name


def latest_study(storage: str, prefix: str) -> str:
    """The newest study folder Tune can restore (one whose start failed before Tune wrote tuner.pkl is not)."""
    root = Path(storage)
    candidates = sorted((p for p in root.glob(f"{prefix}-*") if (p / "tuner.pkl").is_file()),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserError(f"--resume: no restorable {prefix} study in {storage}; pass --name of the study to resume")
    return candidates[-1].name


def init_ray(num_cpus: int | None, address: str | None = None, verbose: bool = False) -> None:
    """Join the cluster named by --address or RAY_ADDRESS (a submitted job has it set); else start a
    private Ray on 127.0.0.1. Never joins whatever Ray happens to run on the machine: a second local
    study used to join the first one's, queue behind its trials and die with it."""
    import ray

    if ray.is_initialized():
        return
    if address or os.environ.get("RAY_ADDRESS"):
        # Joining: resources belong to the cluster, so no num_cpus/num_gpus here.
        ray.init(address=address, log_to_driver=verbose, logging_level=logging.INFO if verbose else logging.WARNING)
        return
    # A private single-machine Ray: without this switch Ray replaces 127.0.0.1 by the routable address.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=verbose, logging_level=logging.INFO if verbose else logging.WARNING)


def check_cluster_gpus(gpus_per_trial: float) -> None:
    """Once Ray runs: refuse a GPU request no node of the cluster can meet (Tune would wait for ever)."""
    if gpus_per_trial <= 0:
        return
    import ray

    most = max((n.get("Resources", {}).get("GPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if most < gpus_per_trial:
        ray.shutdown()
        raise UserError(f"--gpus-per-trial {gpus_per_trial:g}: no node of this Ray cluster has that many GPUs "
                        f"(the most on one node: {most:g}); lower it, or add GPU nodes")


def wandb_key() -> str | None:
    """The W&B key from the environment or from `wandb login` (~/.netrc), for the probe below only."""
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
    import netrc
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        auth = netrc.netrc().authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError):
        return None
    return auth[2] if auth else None


def wandb_problem(timeout: float = 5.0) -> str | None:
    """Why online W&B would not work (server unreachable, key refused), or None. One request with a
    short timeout: an unreachable server otherwise stalls every trial's logger for minutes and leaves
    empty runs behind."""
    import requests

    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").rstrip("/")
    key = wandb_key()
    try:
        reply = requests.post(f"{base}/graphql", json={"query": "query { viewer { id } }"},
                              auth=("api", key) if key else None, timeout=timeout)
    except requests.RequestException as exc:
        return f"{base} unreachable ({type(exc).__name__})"
    if reply.status_code in (401, 403):
        return f"{base} refused the API key (HTTP {reply.status_code})"
    if reply.status_code >= 500:
        return f"{base} answered HTTP {reply.status_code}"
    return None


def wandb_callbacks(plan: Plan) -> list:
    if plan.args.no_wandb:
        return []
    from functools import partial

    from mgen.study.wandb_log import StudyWandbCallback

    mode = os.environ.get("WANDB_MODE") or ("online" if wandb_key() else "offline")
    if mode == "online":
        problem = wandb_problem()
        if problem:
            print(f"warning: W&B: {problem}; logging offline instead (sync later with `wandb sync`)", file=sys.stderr)
            mode = "offline"
    os.environ["WANDB_MODE"] = mode  # Ray's callback checks the mode before asking for a key
    os.environ.setdefault("WANDB_SILENT", "true")  # no per-run banners in the study's output
    kwargs = {"dir": str(plan.local_storage / plan.name)} if plan.local_storage else {}
    if plan.local_storage:
        (plan.local_storage / plan.name).mkdir(parents=True, exist_ok=True)
    print(f"W&B: project {plan.args.wandb_project}, group {plan.name}, mode {mode}"
          + (" (sync later with `wandb sync`)" if mode == "offline" else ""))
    metric, direction = plan.objectives[0] if plan.objectives else (plan.args.metric, plan.args.mode)
    return [StudyWandbCallback(project=plan.args.wandb_project, group=plan.name, mode=mode, log_config=False,
                               reinit="finish_previous",  # Ray passes the deprecated reinit=True otherwise
                               name_keys=list(plan.space), metric=metric, mode_of_metric=direction,
                               is_control=partial(is_control, plan.spec), **kwargs)]


def build_datasets(plan: Plan) -> dict:
    """Every data set the trials need, built (or loaded from cache) once, before Ray starts."""
    from mgen.data import load_dataset
    from mgen.study.space import expand, values_of

    names = values_of(plan.space["data"]) if "data" in plan.space else [plan.fixed["data"]]
    configs = [TrialConfig.from_dict(expand({**plan.fixed, "data": name})).data_config() for name in names]
    return {cfg: load_dataset(cfg) for cfg in configs}


def build_tuner(plan: Plan, datasets: dict):
    from ray import tune

    from mgen.study.callbacks import CollapseStopper, ProgressLines
    from mgen.study.space import to_tune
    from mgen.study.trainable import trainable

    args = plan.args
    metric, mode = (plan.objectives[0] if plan.objectives else (args.metric, args.mode))
    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    fn = tune.with_resources(tune.with_parameters(trainable, datasets=datasets), resources)
    run_config = tune.RunConfig(
        name=plan.name, storage_path=plan.storage,
        stop=None if args.no_collapse_stop else CollapseStopper(args.collapse_patience),
        callbacks=wandb_callbacks(plan) + ([] if args.verbose else [ProgressLines(metric, list(plan.space))]),
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        # Every checkpoint is kept: pruning by score deleted the one Tune's experiment snapshot pointed
        # to, and a resumed trial then failed for good ("does not exist on storage anymore").
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
        verbose=1 if args.verbose else 0)
    if args.resume:
        path = f"{plan.storage.rstrip('/')}/{plan.name}"
        if not tune.Tuner.can_restore(path):
            raise UserError(f"--resume: no restorable study at {path}")
        print(f"resuming {path}")
        return tune.Tuner.restore(path, trainable=fn, resume_unfinished=True, resume_errored=True)
    from ray.tune.search import BasicVariantGenerator

    # Grid and random search: seeded, so a study's sampled configs are the same every run. The positive
    # controls run first; each takes one of num_samples.
    search_alg, scheduler = BasicVariantGenerator(random_state=args.seed, points_to_evaluate=list(plan.controls) or None), None
    if args.search == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        db = plan.local_storage / plan.name / "optuna.db" if plan.local_storage else None
        storage = None
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
        objectives = plan.objectives or [(metric, mode)]
        search_alg = OptunaSearch(metric=[m for m, _ in objectives] if plan.objectives else metric,
                                  mode=[d for _, d in objectives] if plan.objectives else mode,
                                  sampler=optuna.samplers.TPESampler(seed=args.seed),
                                  storage=storage, study_name=plan.name,
                                  points_to_evaluate=list(plan.controls) or None)
    if args.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        reports = max(1, plan.fixed.get("steps", 1) // max(1, plan.fixed.get("eval_every", 1)))
        scheduler = ASHAScheduler(max_t=reports, grace_period=1, reduction_factor=2)
    tune_config = tune.TuneConfig(
        metric=None if plan.objectives else metric, mode=None if plan.objectives else mode,
        search_alg=search_alg, scheduler=scheduler, num_samples=plan.num_samples + len(plan.controls),
        max_concurrent_trials=args.max_concurrent, reuse_actors=not args.no_reuse_actors)
    param_space = {**plan.fixed, **to_tune(plan.space, args.search)}
    return tune.Tuner(fn, param_space=param_space, tune_config=tune_config, run_config=run_config)


def summarise(plan: Plan, results) -> dict:
    """The end-of-study table and study.json: best trials, each marked healthy, collapsed or failed at
    its best report; collapsed/failed/diverged counts; a warning when no trial is healthy."""
    metric, mode = plan.objectives[0] if plan.objectives else (plan.args.metric, plan.args.mode)
    rows = []
    for r in results:
        last = r.metrics or {}
        best_ckpt = r.get_best_checkpoint(metric, mode) if r.checkpoint else None
        history = r.metrics_dataframe
        values = history[metric].dropna() if history is not None and metric in history else []
        best, at_best = float("nan"), {}
        if len(values):
            i = values.idxmax() if mode == "max" else values.idxmin()
            best, at_best = float(values[i]), history.loc[i].to_dict()
        flags = at_best or last
        rows.append({"trial_id": last.get("trial_id", r.path.rsplit("/", 1)[-1]), "path": r.path,
                     "best": best, "status": health_status(flags),
                     "collapsed": bool(last.get("collapsed", 0) >= 1), "failed": bool(last.get("failed", 0) >= 1),
                     "diverged": bool(last.get("diverged", 0) >= 1), "error": r.error is not None,
                     "best_checkpoint": best_ckpt.path if best_ckpt else None,
                     "control": is_control(plan.spec, r.config or {}),
                     "params": {k: v for k, v in (r.config or {}).items() if k in plan.space}})
    ranked = sorted((x for x in rows if x["best"] == x["best"]), key=lambda x: x["best"], reverse=mode == "max")
    healthy = [x for x in ranked if x["status"] == "healthy"]
    summary = {"name": plan.name, "storage": plan.storage, "path": f"{plan.storage.rstrip('/')}/{plan.name}",
               "metric": metric, "mode": mode, "trials": len(rows),
               "healthy": len(healthy), "collapsed": sum(x["collapsed"] for x in rows),
               "failed": sum(x["failed"] for x in rows), "diverged": sum(x["diverged"] for x in rows),
               "errored": sum(x["error"] for x in rows), "best": ranked[0] if ranked else None,
               "best_healthy": healthy[0] if healthy else None, "ranked": ranked}
    controls = [x for x in rows if x["control"]]
    summary["controls"] = [{k: x[k] for k in ("trial_id", "status", "best", "params")} for x in controls]
    summary["controls_passed"] = bool(controls) and all(x["status"] == "healthy" for x in controls)
    print(f"\n{plan.spec.name}: {len(rows)} trials: {len(healthy)} healthy, {summary['collapsed']} collapsed, "
          f"{summary['failed']} failed to train ({summary['diverged']} diverged), {summary['errored']} errored "
          f"(at the last report); best by {metric} ({mode}):")
    for x in ranked[:5]:
        params = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in x["params"].items())
        mark = "" if x["status"] == "healthy" else f"  [{x['status'].upper()}]"
        print(f"  {metric}={x['best']:.4f}  {x['trial_id']}  {params}{mark}")
    print(f"results: {summary['path']}")
    if plan.spec.control:
        if not controls:
            print("positive control: none ran (a fixed setting differs from the reference recipe); "
                  "nothing shows that this study's budget can train a healthy model")
        elif summary["controls_passed"]:
            print(f"positive control (the reference recipe): {len(controls)} of {len(controls)} healthy")
        else:
            bad = [x for x in controls if x["status"] != "healthy"]
            print(f"WARNING: positive control failed: {len(bad)} of {len(controls)} reference-recipe trials "
                  f"were not healthy ({', '.join(x['trial_id'] + ' ' + x['status'] for x in bad)}); "
                  "the map is not evidence of where collapse sets in at this budget")
    if ranked and ranked[0]["status"] != "healthy":
        print(f"warning: the best trial was {ranked[0]['status']} at its best report; "
              + ("no trial was healthy, so this study found no working configuration" if not healthy
                 else f"the best healthy trial is {healthy[0]['trial_id']}"))
    if ranked and ranked[0]["best_checkpoint"]:
        ckpt = ranked[0]["best_checkpoint"]
        print(f"best checkpoint: {ckpt}" + ("" if ranked[0]["status"] == "healthy" else f" ({ranked[0]['status']})"))
        print("next:")
        if (Path(__file__).resolve().parents[2] / "analysis" / "report.py").exists():
            print(f"  python analysis/report.py {summary['path']}")
        print(f"  mgen generate {ckpt}/checkpoint.pt --n 32 --out samples/{plan.name} --wav")
    if plan.spec.table:
        by, metrics = plan.spec.table
        table = group_table(results, by, metrics)
        print(f"\nmean +- sd over seeds of the last report:\n{table.to_string()}")
        summary["table"] = table.reset_index().to_dict(orient="records")
    if plan.local_storage:
        write_atomic(plan.local_storage / plan.name / SUMMARY_FILE, json.dumps(summary, indent=2, default=str))
    return summary


def group_table(results, by: list[str], metrics: list[str]):
    """Mean +- sd of each metric's last reported value, per group of trial params (e.g. data, variant)."""
    import pandas as pd

    rows = []
    for r in results:
        if r.metrics:
            config = r.config or {}
            rows.append({**{k: config.get(k) for k in by}, **{m: r.metrics.get(m) for m in metrics}})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    grouped = frame.groupby(by)[metrics]
    mean, sd, n = grouped.mean(), grouped.std(ddof=1).fillna(0.0), grouped.size()
    table = mean.round(3).astype(str) + " +- " + sd.round(3).astype(str)
    table["trials"] = n
    return table


def run_study(spec: StudySpec, argv: list[str] | None = None) -> dict:
    """Parse flags, check everything, then run (or resume) the study on Ray Tune and summarise it."""
    args = parse_args(spec, argv)
    storage, name = study_location(spec, args)
    saved = None if "://" in storage else Path(storage) / name / ARGS_FILE
    if args.resume and saved is not None and saved.exists():
        # The study's own flags; the resuming call only says which study and how much CPU to use.
        args = argparse.Namespace(**{**json.loads(saved.read_text()), "resume": True, "storage": storage,
                                     "name": name, "num_cpus": args.num_cpus, "address": args.address,
                                     "verbose": args.verbose})
    plan = plan_study(spec, args)
    if args.resume:  # before the storage check, which would create the folder of a study that is not there
        from mgen.study import trust

        for warning in trust.check_resume(plan.storage, f"{plan.storage.rstrip('/')}/{plan.name}"):
            print(f"warning: {warning}", file=sys.stderr)
    check_storage(plan.storage, plan.name, getattr(args, "min_free_mb", MIN_FREE_MB_DEFAULT))
    if saved is not None and not args.resume:
        write_atomic(saved, json.dumps(vars(args), indent=2))
    datasets = build_datasets(plan)
    sizes = ", ".join(f"{c.name} ({len(d)} examples)" for c, d in datasets.items())
    print(f"{spec.name}: {sizes}; {args.search} search, "
          f"{plan.num_samples} {'grid repeats' if args.search == 'grid' else 'trials'}, budget {args.budget}")
    init_ray(args.num_cpus, getattr(args, "address", None), getattr(args, "verbose", False))
    check_cluster_gpus(args.gpus_per_trial)
    tuner = build_tuner(plan, datasets)
    if plan.local_storage and not args.resume:
        from mgen.study import trust

        trust.record(plan.local_storage / plan.name)  # tuner.pkl as written now: --resume checks it
    import ray

    with full_disk_named(plan.local_storage):
        try:
            results = tuner.fit()
        finally:
            ray.shutdown()  # flushes the workers' log lines, so what this prints next is the last thing printed
        summary = summarise(plan, results)
    if not args.no_wandb:
        from mgen.study.wandb_log import log_study_run

        log_study_run(args.wandb_project, plan.name, os.environ.get("WANDB_MODE", "offline"), summary,
                      str(plan.local_storage / plan.name) if plan.local_storage else None)
    return summary


def main(spec: StudySpec, argv: list[str] | None = None) -> int:
    """Exit 0 when every trial ran (healthy or not), 1 when trials errored or storage failed, 2 on bad input."""
    logging.basicConfig(level=logging.WARNING)
    try:
        summary = run_study(spec, argv)
    except UserError as exc:
        print(f"{spec.name}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        bad = storage_error(exc)
        if bad is None:
            raise
        print(f"{spec.name}: error: storage: {bad.strerror or bad} ({bad.filename or 'the results folder'}); "
              "the results written so far are kept; free space or fix permissions, then --resume", file=sys.stderr)
        return 1
    if summary["errored"]:
        print(f"{spec.name}: error: {summary['errored']} trial(s) errored after their retries; see their error.txt "
              f"in {summary['path']}, fix the cause, then --resume", file=sys.stderr)
        return 1
    return 0
