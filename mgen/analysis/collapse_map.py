"""Collapse maps: a collapse metric over D/G ratio x lr_d/lr_g, one panel per conditioning, and trajectories.

    python analysis/collapse_map.py RESULTS_DIR [--out DIR] [--metrics coverage,diversity,collapsed,failed]

Writes collapse_map_<metric>.png/.csv and trajectory_<metric>.png (drawn by mgen/analysis/maps.py, which says
what the cells and lines show).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mgen.errors import run_cli
from mgen.analysis.maps import collapse_map, trajectory
from mgen.metrics.registry import lookup
from mgen.analysis.results import as_study


def run(results, out: Path, metrics: list[str]) -> list[Path]:
    """results: a study's folder or URI, or its loaded StudyResults."""
    study = as_study(results)
    files = []
    for metric in metrics:
        files += collapse_map(study, metric, out)
        files.append(trajectory(study, metric, out))
    return files


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

