"""Ray itself: the private or joined Ray, the W&B callback, the data sets, and the Tuner (new or restored)."""
from __future__ import annotations

import contextlib
import logging
import os
import sys

from mgen.errors import UserError
from mgen.study.plan import Plan, is_control
from mgen.train.config import TrialConfig


def init_ray(num_cpus: int | None, address: str | None = None, verbose: bool = False) -> bool:
    """Join the cluster named by --address or RAY_ADDRESS (a submitted job has it set); else start a
    private Ray on 127.0.0.1. Never joins whatever Ray happens to run on the machine: a second local
    study used to join the first one's, queue behind its trials and die with it.

    Where this process is already connected to a Ray (a notebook's `ray.init()`), the study runs on that
    one and leaves it running. Returns whether this call connected, i.e. whether the study should shut
    Ray down when it ends: stop only what you started."""
    # torch before Ray: a job's driver that imported torch after joining a freshly started cluster died
    # with "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so" (3 of 3 first jobs on a new local
    # cluster; 0 of 3 with this order). --help and the flag checks still load neither.
    import torch  # noqa: F401

    joining = bool(address or os.environ.get("RAY_ADDRESS"))
    if not joining:
        # A private single-machine Ray. Without this switch Ray puts the machine's routable address in place
        # of 127.0.0.1, and its GCS, dashboard and autoscaler monitor listen on every interface. Ray reads
        # it once, when `ray` is first imported: so before the import, and on Ray's constant where a caller
        # (a notebook, a test) imported Ray already. The node processes inherit the environment.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if not joining and os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    if ray.is_initialized():
        cpus = ray.cluster_resources().get("CPU", 0)
        if num_cpus is not None and num_cpus != cpus:
            print(f"note: --num-cpus {num_cpus} has no effect: this process's Ray is already running, with "
                  f"{cpus:g} CPUs", file=sys.stderr)
        return False
    if not verbose:  # said on every start; docs/cluster.md explains token authentication
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    if joining:
        # Joining: resources belong to the cluster, so no num_cpus/num_gpus here.
        ray.init(address=address, log_to_driver=verbose, logging_level=logging.INFO if verbose else logging.WARNING)
        return True
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=verbose, logging_level=logging.INFO if verbose else logging.WARNING)
    return True


def check_cluster_gpus(gpus_per_trial: float, started: bool = True) -> None:
    """Once Ray runs: refuse a GPU request no node of the cluster can meet (Tune would wait for ever);
    `started`: this study connected to Ray, so disconnects before refusing."""
    if gpus_per_trial <= 0:
        return
    import ray

    most = max((n.get("Resources", {}).get("GPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if most < gpus_per_trial:
        if started:
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
    if plan.options.no_wandb:
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
    kwargs = {"dir": str(plan.local_storage / plan.name)} if plan.local_storage else {}  # made by check_storage
    print(f"W&B: project {plan.options.wandb_project}, group {plan.name}, mode {mode}"
          + (" (sync later with `wandb sync`)" if mode == "offline" else ""))
    metric, direction = plan.study_metric
    return [StudyWandbCallback(project=plan.options.wandb_project, group=plan.name, mode=mode, log_config=False,
                               name_keys=list(plan.space), metric=metric, mode_of_metric=direction,
                               is_control=partial(is_control, plan.spec), **kwargs)]


def build_datasets(plan: Plan) -> dict:
    """Every data set the trials need, built (or loaded from cache) once, before Ray starts."""
    from mgen.data import load_dataset
    from mgen.study.space import values_of

    names = values_of(plan.space["data"]) if "data" in plan.space else [plan.fixed["data"]]
    configs = [TrialConfig.from_params({**plan.fixed, "data": name}).data_config() for name in names]
    return {cfg: load_dataset(cfg) for cfg in configs}


def optuna_record(plan: Plan, metric: str, mode: str) -> list:
    """Grid and random studies go into Optuna storage too (an Optuna search writes its own)."""
    if plan.options.search == "optuna" or plan.local_storage is None:
        return []
    from mgen.study.optuna_record import OptunaRecord

    return [OptunaRecord(plan.local_storage / plan.name / "optuna.db", plan.name, plan.space, metric, mode,
                         skip_references=bool(plan.references))]


def populations(plan: Plan, datasets: dict):
    """With --population P > 1, the study's Populations (mgen/study/population.py), else None."""
    opts = plan.options
    if opts.population <= 1:
        return None
    import ray

    from mgen.study.population import Populations

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    return Populations.start(opts.population, opts.population_wait, datasets, opts.cpus_per_trial,
                             opts.gpus_per_trial, node_cpus=[r.get("CPU", 0) for r in nodes])


@contextlib.contextmanager
def pending_trials(plan: Plan):
    """While the study runs: as many trials pending as fit at once, for an Optuna search. Tune keeps one
    trial pending for any searcher but its own grid and random one, so with short trials a freed CPU waits
    while the next trial is suggested and its placement group made (benchmarks/scale.py, 500 tiny trials:
    1.86 s of driver overhead a trial, against 0.19 s for a grid). TPE then suggests that many trials ahead,
    as with --max-concurrent. A TUNE_MAX_PENDING_TRIALS_PG the user set is kept; with --max-concurrent or
    populations Tune already keeps that many pending."""
    opts = plan.options
    if (opts.search != "optuna" or opts.max_concurrent or (opts.population or 1) > 1
            or "TUNE_MAX_PENDING_TRIALS_PG" in os.environ):
        yield
        return
    import ray

    fit = int(ray.cluster_resources().get("CPU", 1.0) // opts.cpus_per_trial)
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(max(1, fit))
    try:
        yield
    finally:
        del os.environ["TUNE_MAX_PENDING_TRIALS_PG"]


def build_tuner(plan: Plan, datasets: dict):
    from ray import tune

    from mgen.study.callbacks import CollapseStopper, ProgressLines
    from mgen.study.checkpoints import CheckpointPruner, leftovers
    from mgen.study.trainable import trainable

    opts = plan.options
    metric, mode = plan.study_metric
    if not opts.verbose:
        # Tune's newer output engine prints its header box and a TensorBoard hint even when silent; the
        # older one prints nothing at verbose=0, and ProgressLines says what happens instead.
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    resources = {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial}
    population = populations(plan, datasets)
    if population is None:
        fn = tune.with_resources(tune.with_parameters(trainable, datasets=datasets), resources)
    else:  # a member trial holds no CPU: its group's actor holds the members' share
        fn = tune.with_resources(tune.with_parameters(trainable, datasets=datasets, broker=population.broker),
                                 population.trial_resources(resources))
    run_config = tune.RunConfig(
        name=plan.name, storage_path=plan.storage,
        stop=None if opts.no_collapse_stop else CollapseStopper(opts.collapse_patience),
        callbacks=(wandb_callbacks(plan) + ([] if opts.verbose else [ProgressLines(metric, list(plan.space))])
                   + optuna_record(plan, metric, mode) + ([population.callback] if population else [])
                   + ([CheckpointPruner(metric, mode, opts.keep_checkpoints)] if opts.keep_checkpoints else [])),
        failure_config=tune.FailureConfig(max_failures=opts.max_failures),
        # Tune itself keeps every checkpoint: its pruning by score deleted the one Tune's experiment snapshot
        # pointed to, and a resumed trial then failed for good ("does not exist on storage anymore").
        # CheckpointPruner deletes only what no snapshot names (mgen/study/checkpoints.py).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
        verbose=1 if opts.verbose else 0)
    if opts.resume:
        path = f"{plan.storage.rstrip('/')}/{plan.name}"
        if not tune.Tuner.can_restore(path):
            raise UserError(f"--resume: no restorable study at {path}")
        print(f"resuming {path}")
        if plan.local_storage:  # folders a driver killed while pruning left behind
            leftovers(plan.local_storage / plan.name)
        # Tune lists every trial that had not started ("Failed to fetch metrics for 129 trial(s): ..." and a
        # line each): they have no results yet, and resume runs them.
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
        return tune.Tuner.restore(path, trainable=fn, resume_unfinished=True, resume_errored=True)
    # Trials at once: --max-concurrent, else with populations P per group that fits, else as resources allow.
    concurrent = opts.max_concurrent or (population.concurrency if population else None)
    search_alg = search_algorithm(plan, concurrent, grouped=population is not None)
    scheduler = None
    if opts.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        reports = max(1, plan.fixed.get("steps", 1) // max(1, plan.fixed.get("eval_every", 1)))
        scheduler = ASHAScheduler(max_t=reports, grace_period=1, reduction_factor=2)
    tune_config = tune.TuneConfig(
        metric=None if plan.objectives else metric, mode=None if plan.objectives else mode,
        search_alg=search_alg, scheduler=scheduler, num_samples=plan.num_samples + len(plan.controls) + len(plan.references),
        max_concurrent_trials=None if opts.search != "optuna" else concurrent,
        reuse_actors=not opts.no_reuse_actors)
    return tune.Tuner(fn, param_space=param_space(plan), tune_config=tune_config, run_config=run_config)


def param_space(plan: Plan) -> dict:
    from mgen.study.space import to_tune

    return {**plan.fixed, **to_tune(plan.space, plan.options.search)}


def search_algorithm(plan: Plan, concurrent: int | None = None, grouped: bool = False):
    """Tune's searcher for the plan; built without a running Ray, so every study x budget x search can be
    checked against Tune and Optuna before a cluster starts (tests/study/test_searches.py)."""
    from ray.tune.search import BasicVariantGenerator

    from mgen.study.space import sample_points

    opts = plan.options
    metric, mode = plan.study_metric
    if opts.search == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        from mgen.study.optuna_record import sqlite_storage

        storage = sqlite_storage(plan.local_storage / plan.name / "optuna.db") if plan.local_storage else None
        objectives = plan.objectives or [(metric, mode)]
        return OptunaSearch(metric=[m for m, _ in objectives] if plan.objectives else metric,
                            mode=[d for _, d in objectives] if plan.objectives else mode,
                            sampler=optuna.samplers.TPESampler(seed=opts.seed),
                            storage=storage, study_name=plan.name, points_to_evaluate=list(plan.controls) or None)
    # Grid and random search: seeded, so a study's sampled configs are the same every run, with or without
    # populations (`grouped`: in the order populations gather). The positive controls run first, then the
    # reference rows; each takes one of num_samples. Tune ignores TuneConfig's max_concurrent_trials for
    # grid and random search, so the generator gets it.
    if plan.references:  # Tune warns that their unset dimensions (None, NaN) are not values of the space: known
        logging.getLogger("ray.tune.search.variant_generator").setLevel(logging.ERROR)
    points = list(plan.controls) + list(plan.references)
    if opts.search == "random":  # drawn here: space.sample_points
        points += sample_points(plan.space, plan.num_samples, opts.seed, grouped=grouped)
    return BasicVariantGenerator(random_state=opts.seed, points_to_evaluate=points or None,
                                 max_concurrent=concurrent or 0)
