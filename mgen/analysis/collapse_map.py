"""Collapse maps: a collapse metric over D/G ratio x lr_d/lr_g, one panel per conditioning, trajectories, and
the collapse boundary with its uncertainty.

    python analysis/collapse_map.py RESULTS_DIR [--out DIR] [--metrics coverage,diversity,collapsed,failed]

Writes collapse_map_<metric>.png/.csv and trajectory_<metric>.png, and boundary_<target>.png/.csv for
`collapsed` and for each adherence the trials report (P(collapsed), or mean adherence, by log2(D/G) and
lr ratio with 95% intervals); all drawn by mgen/analysis/maps.py, which says what the cells and lines show.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mgen.errors import run_cli
from mgen.analysis.maps import boundary, collapse_map, trajectory
from mgen.metrics.registry import lookup
from mgen.analysis.results import as_study


def run(results, out: Path, metrics: list[str]) -> list[Path]:
    """results: a study's folder or URI, or its loaded StudyResults."""
    study = as_study(results)
    files = []
    for metric in metrics:
        files += collapse_map(study, metric, out)
        files.append(trajectory(study, metric, out))
    return files + boundaries(study, out)


def boundaries(study, out: Path) -> list[Path]:
    """boundary_<target> for `collapsed`, and for each adherence some GAN trial reported (a conditioned study)."""
    gan = study.trials[study.trials["method"] == "gan"]
    targets = ["collapsed"] + [t for t in ("chord_adherence", "prev_adherence") if t in gan and gan[t].notna().any()]
    return [f for target in targets for f in boundary(study, target, out)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", help="a study's results folder (or URI)")
    p.add_argument("--out", default="out/analysis", help="output folder")
    p.add_argument("--metrics", default="coverage,diversity,collapsed,failed")
    args = p.parse_args(argv)

    def body():
        for metric in args.metrics.split(","):
            lookup(metric)  # an unknown metric is one line, before any work
        for f in run(args.results, Path(args.out), args.metrics.split(",")):
            print(f"wrote {f}")

    return run_cli("collapse_map", body)

