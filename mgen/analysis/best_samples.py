"""Samples of the best trial: its best checkpoint as MIDI, piano-roll PNGs and WAV.

    python analysis/best_samples.py RESULTS_DIR [--metric healthy_coverage] [--trial ID] [--n 16] [--out DIR]

The checkpoint is pulled from the results folder, local or a URI. Audio comes from fluidsynth with a
General MIDI SoundFont when both are installed, else from pretty_midi's sine synthesis; the output says which.
"""
from __future__ import annotations

from pathlib import Path

from mgen.errors import UserError, run_cli
from mgen.metrics.registry import direction
from mgen.analysis.results import analysis_parser, as_study, best_checkpoint, fetch_checkpoint
from mgen.train.generate import print_written, write_samples


def run(results, out: Path, metric: str = "healthy_coverage", trial: str | None = None, n: int = 16) -> dict:
    """results: a study's folder or URI, or its loaded StudyResults (read with metrics_for_best=(metric,))."""
    study = as_study(results, metrics_for_best=(metric,))
    if trial:
        match = study.trials[study.trials["trial_id"] == trial]
        if match.empty:
            raise UserError(f"no trial {trial!r}; trials: {', '.join(study.trials['trial_id'])}")
        row = match.iloc[0]
    else:
        row = study.best_trial(metric)
    ckpt_dir = best_checkpoint(row["dir"], metric)
    written = write_samples(fetch_checkpoint(ckpt_dir, str(out)), n, out, wav=True)
    written.update({"trial_id": row["trial_id"], "checkpoint": ckpt_dir, "metric": metric,
                    "value": float(row.get(f"best_{metric}", float("nan")))})
    return written


def main(argv=None) -> int:
    p = analysis_parser(__doc__, "out/best_samples", baselines=False)
    p.add_argument("--trial", help="a trial id instead of the best")
    p.add_argument("--n", type=int, default=16, help="bars (in 8-bar phrases) or points")
    args = p.parse_args(argv)

    def body():
        direction(args.metric)  # an unknown or directionless metric is one line, before any work
        w = run(args.results, Path(args.out), args.metric, args.trial, args.n)
        print(f"trial {w['trial_id']} ({args.metric}={w['value']:.4f}), checkpoint {w['checkpoint']}")
        print_written(w, args.n, prog="best_samples")

    return run_cli("best_samples", body)

