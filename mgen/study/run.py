"""Tuning a study: flags, checks before Ray (plan, resume trust, data, storage), the Tuner, the summary.

The parts: flags.py (the parser), plan.py (StudySpec, Plan), tuner.py (Ray, W&B, the Tuner),
summary.py (the closing table and study.json), storage.py and trust.py (what is checked before).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mgen.study.flags import parse_args, parse_sets
from mgen.study.options import StudyOptions, resolve
from mgen.study.plan import StudySpec, plan_study
from mgen.study.storage import check_storage, full_disk_named, write_atomic
from mgen.study.summary import summarise
from mgen.study.tuner import build_datasets, build_tuner, check_cluster_gpus, init_ray, pending_trials
from mgen.train.config import FOOTING

__all__ = ["StudySpec", "tune_study"]


ARGS_FILE = "study_args.json"  # the flags a study was started with, reused by --resume


def tune_study(spec: StudySpec, argv: list[str] | None = None) -> dict:
    """Parse flags, check everything, then run (or resume) the study on Ray Tune and summarise it (the study's
    own W&B run is written above this layer: mgen/studies.py)."""
    opts = resolve(spec, parse_args(spec, argv))
    saved = None if "://" in opts.storage else Path(opts.storage) / opts.name / ARGS_FILE
    if opts.resume and saved is not None and saved.exists():
        # The study's own options; the resuming call only says which study and how much CPU to use.
        opts = StudyOptions.from_flags({**json.loads(saved.read_text()), "resume": True, "storage": opts.storage,
                                        "name": opts.name, "num_cpus": opts.num_cpus, "address": opts.address,
                                        "verbose": opts.verbose, "resolved": False})
    plan = plan_study(spec, opts)
    opts = plan.options
    recipe_sets = sorted(k for k in parse_sets(opts.set) if k not in FOOTING + ("device",))
    if recipe_sets and (plan.references or "reference" in str(plan.space.get("variant", ""))):
        print(f"note: --set {', '.join(recipe_sets)} applies to this study's own trials; a reference recipe "
              "(a */reference variant or row) trains its own values and takes only the footing "
              "(data, sizes, iterations, seed)", file=sys.stderr)
    if opts.resume:  # before the storage check, which would create the folder of a study that is not there
        from mgen.study import trust

        for warning in trust.check_resume(plan.storage, f"{plan.storage.rstrip('/')}/{plan.name}"):
            print(f"warning: {warning}", file=sys.stderr)
    check_storage(plan.storage, plan.name, opts.min_free_mb)
    if saved is not None and not opts.resume:
        write_atomic(saved, json.dumps(opts.to_json(), indent=2))
    datasets = build_datasets(plan)
    sizes = ", ".join(f"{c.name} ({len(d)} examples)" for c, d in datasets.items())
    print(f"{spec.name}: {sizes}; {opts.search} search, "
          f"{plan.num_samples} {'grid repeats' if opts.search == 'grid' else 'trials'}, budget {opts.budget}")
    private = not (opts.address or os.environ.get("RAY_ADDRESS"))
    if private and plan.local_storage:  # a killed driver of this study left its private Ray running: stop it
        from mgen.study.processes import stop_left_behind

        stopped = stop_left_behind(plan.local_storage / plan.name)
        if stopped:
            print(f"stopped {stopped} Ray process(es) an earlier, killed driver of this study left running")
    started = init_ray(opts.num_cpus, opts.address, opts.verbose)
    if started and private and plan.local_storage:
        from mgen.study.processes import record_ray

        record_ray(plan.local_storage / plan.name)
    check_cluster_gpus(opts.gpus_per_trial, started)
    tuner = build_tuner(plan, datasets)
    if plan.local_storage and not opts.resume:
        from mgen.study import trust

        trust.record(plan.local_storage / plan.name)  # tuner.pkl as written now: --resume checks it
    import ray

    with full_disk_named(plan.local_storage):
        try:
            with pending_trials(plan):
                results = tuner.fit()
        finally:
            if started:  # a Ray this process had before the study (a notebook's) stays up
                ray.shutdown()  # flushes the workers' log lines, so what this prints next is the last thing printed
        if plan.local_storage:
            from mgen.study.optuna_record import close_running

            closed = close_running(plan.local_storage / plan.name / "optuna.db", plan.name)
            if closed:
                print(f"optuna.db: {closed} trial(s) left RUNNING by an interrupted run marked FAIL")
            if not opts.no_wandb:
                from mgen.study.wandb_offline import close_orphans

                crashed = close_orphans(plan.local_storage / plan.name, opts.wandb_project)
                if crashed:
                    print(f"W&B: {crashed} offline run(s) a killed trial or driver left without an end marked crashed")
        summary = summarise(plan, results)
    summary["wandb_project"] = None if opts.no_wandb else opts.wandb_project  # for the study's own W&B run
    return summary
