"""W&B-style line panels drawn from a study's offline W&B runs, for a look without a W&B server.

    python analysis/wandb_panels.py RESULTS_DIR [--keys quality/healthy_coverage,train/loss_d] [--out DIR]

Reads `RESULTS_DIR/wandb/offline-run-*` (mgen/study/wandb_offline.py), takes every trial run, and draws one
panel a key, as W&B's workspace does: x is the training iteration (the runs' step axis), one line a run,
named as in W&B. Writes wandb_panels.png. `wandb sync RESULTS_DIR/wandb/offline-run-*` uploads the same
runs to a W&B server, where these panels and the rest of the dashboard are live.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mgen.errors import UserError, run_cli  # noqa: E402
from mgen.study.wandb_offline import study_runs  # noqa: E402

DEFAULT_KEYS = ("quality/healthy_coverage", "quality/coverage", "collapse/diversity", "collapse/z_sensitivity",
                "train/loss_d", "train/loss_g")
W_AND_B_COLOURS = ("#5387DD", "#DA4C4C", "#479A5F", "#E87B9F", "#7D54B2", "#E5AE38", "#5BC5DB", "#A46750")


def panels(results: str, out: Path, keys: list[str]) -> Path:
    runs = [run for run in study_runs(Path(results)) if run.job_type == "trial"]
    if not runs:
        raise UserError(f"no W&B trial runs under {results}/wandb (a study run with --no-wandb logs none)")
    logged = {k for run in runs for row in run.history for k in row}
    missing = [k for k in keys if k not in logged]
    if missing:
        raise UserError(f"--keys: {', '.join(missing)} not logged; some logged keys: "
                        + ", ".join(sorted(k for k in logged if "/" in k and not k.endswith("_type"))[:20]))
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows + 0.6), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for i, run in enumerate(runs):
            points = [(row["step"], row[key]) for row in run.history if key in row and "step" in row
                      and isinstance(row[key], (int, float))]
            if points:
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, color=W_AND_B_COLOURS[i % len(W_AND_B_COLOURS)], lw=1.4, label=run.name)
        ax.set_title(key, fontsize=9, loc="left")
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(color="#E6E6E6", lw=0.8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(2, len(labels)), fontsize=7, frameon=False)
    fig.suptitle(f"{runs[0].group}: {len(runs)} trial runs (W&B offline records)", fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.03 + 0.03 * math.ceil(len(labels) / 2), 1, 0.97))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "wandb_panels.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", help="a study's results folder (local: W&B offline runs live beside its trials)")
    p.add_argument("--keys", default=",".join(DEFAULT_KEYS), help="W&B keys, one panel each")
    p.add_argument("--out", default="out/analysis", help="output folder")
    args = p.parse_args(argv)
    return run_cli("wandb_panels", lambda: print(f"wrote {panels(args.results, Path(args.out), args.keys.split(','))}"))

