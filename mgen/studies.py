"""A study script's entry point, above every layer: tune the study on Ray Tune (mgen.study), then write
the study's own W&B run from its results (mgen.analysis.wandb_study). `studies/*.py` call `main`."""
from __future__ import annotations

import logging
import os
import sys

from mgen.errors import UserError
from mgen.study import StudySpec, tune_study
from mgen.study.storage import storage_error, trials_out_of_space

__all__ = ["main", "run_study"]


def run_study(spec: StudySpec, argv: list[str] | None = None) -> dict:
    """Run (or resume) the study and summarise it; with W&B on, one more run for the whole study."""
    summary = tune_study(spec, argv)
    if summary["wandb_project"]:
        from mgen.analysis.wandb_study import log_study_run

        path = summary["path"]
        log_study_run(summary["wandb_project"], summary["name"], os.environ.get("WANDB_MODE", "offline"), summary,
                      None if "://" in path else path)
    return summary


def storage_failed(spec: StudySpec, bad: OSError) -> int:
    print(f"{spec.name}: error: storage: {bad.strerror or bad} ({bad.filename or 'the results folder'}); "
          "the results written so far are kept; free space or fix permissions, then --resume", file=sys.stderr)
    return 1


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
        return storage_failed(spec, bad)
    if summary["errored"]:
        full = trials_out_of_space(summary["path"])
        if full is not None:  # the disk filled; pruned checkpoints may have freed some of it since
            return storage_failed(spec, full)
        print(f"{spec.name}: error: {summary['errored']} trial(s) errored after their retries; see their error.txt "
              f"in {summary['path']}, fix the cause, then --resume", file=sys.stderr)
        return 1
    return 0
