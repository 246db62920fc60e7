"""Tuning a study: flags, checks before Ray (plan, resume trust, data, storage), the Tuner, the summary.

The parts: flags.py (the parser), plan.py (StudySpec, Plan), tuner.py (Ray, W&B, the Tuner),
summary.py (the closing table and study.json), storage.py and trust.py (what is checked before).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mgen.study.flags import parse_args
from mgen.study.plan import StudySpec, plan_study, study_location
from mgen.study.storage import MIN_FREE_MB_DEFAULT, check_storage, full_disk_named, write_atomic
from mgen.study.summary import summarise
from mgen.study.tuner import build_datasets, build_tuner, check_cluster_gpus, init_ray

__all__ = ["StudySpec", "tune_study"]


ARGS_FILE = "study_args.json"  # the flags a study was started with, reused by --resume


def tune_study(spec: StudySpec, argv: list[str] | None = None) -> dict:
    """Parse flags, check everything, then run (or resume) the study on Ray Tune and summarise it (the study's
    own W&B run is written above this layer: mgen/studies.py)."""
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
    started = init_ray(args.num_cpus, getattr(args, "address", None), getattr(args, "verbose", False))
    check_cluster_gpus(args.gpus_per_trial, started)
    tuner = build_tuner(plan, datasets)
    if plan.local_storage and not args.resume:
        from mgen.study import trust

        trust.record(plan.local_storage / plan.name)  # tuner.pkl as written now: --resume checks it
    import ray

    with full_disk_named(plan.local_storage):
        try:
            results = tuner.fit()
        finally:
            if started:  # a Ray this process had before the study (a notebook's) stays up
                ray.shutdown()  # flushes the workers' log lines, so what this prints next is the last thing printed
        summary = summarise(plan, results)
    summary["wandb_project"] = None if args.no_wandb else args.wandb_project  # for the study's own W&B run
    return summary
