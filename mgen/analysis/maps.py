"""Collapse maps and trajectories of a study's results, drawn with matplotlib (used by
analysis/collapse_map.py, the report and the study's W&B run).

Cells show the mean of the metric's last report over the trials in the cell (for `collapsed` and
`failed`: the share of trials collapsed or failed to train, two different things) and the trial
count. All panels share one colour scale (the metric's declared range where it is bounded); bright
is better, whichever the metric's direction.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mgen.errors import UserError  # noqa: E402
from mgen.metrics.registry import lookup  # noqa: E402
from mgen.analysis.results import StudyResults  # noqa: E402

LR_EDGES = (-1.0, -0.3, 0.3, 1.0)  # log10(lr_d / lr_g) bin edges
LR_LABELS = ("<0.1", "0.1-0.5", "~1", "2-10", ">10")


def lr_bin(log_ratio: pd.Series) -> pd.Series:
    return pd.Series(np.asarray(LR_LABELS)[np.digitize(log_ratio, LR_EDGES)], index=log_ratio.index)


def map_table(study: StudyResults, metric: str) -> pd.DataFrame:
    """One row a cell: panel (conditioning, D norm), dg_ratio, lr bin, mean of the metric's last report, trials."""
    gan = study.trials[study.trials["method"] == "gan"].copy()
    if gan.empty or metric not in gan:
        raise UserError(f"no GAN trial in {study.uri} reported {metric!r}")
    gan["lr_ratio"] = lr_bin(gan["log10_lr_ratio"])
    # One panel per conditioning, and per D normalisation where the study varied it.
    gan["panel"] = "cond: " + gan["conditioning"]
    if gan["d_norm"].nunique() > 1:
        gan["panel"] += ", D norm: " + gan["d_norm"]
    cells = gan.groupby(["panel", "dg_ratio", "log_dg", "lr_ratio"], as_index=False)[metric].agg(["mean", "count"])
    return cells.rename(columns={"mean": metric, "count": "trials"})


def cell_table(study: StudyResults, metric: str) -> pd.DataFrame:
    """The map's cells for the study metric beside the shares of trials collapsed and failed in each: the
    numbers the collapse-map figures show, as one table (the study's W&B run logs it)."""
    cells = map_table(study, metric)
    for share in ("collapsed", "failed"):
        if share != metric and share in study.trials:
            cells = cells.merge(map_table(study, share).drop(columns="trials"), on=["panel", "dg_ratio", "log_dg", "lr_ratio"])
    return cells.drop(columns="log_dg")


def collapse_map(study: StudyResults, metric: str, out: Path) -> list[Path]:
    cells = map_table(study, metric)
    conditionings = sorted(cells["panel"].unique())
    ratios = cells.sort_values("log_dg", ascending=False)["dg_ratio"].unique()
    fig, axes = plt.subplots(1, len(conditionings), figsize=(3.6 * len(conditionings) + 1, 3.6), squeeze=False)
    # One colour scale for every panel: the metric's declared range where it is bounded, else the data's;
    # bright is better in every map (reversed colours for metrics where lower is better).
    info = lookup(metric)
    vmin = info.low if math.isfinite(info.low) else float(cells[metric].min())
    vmax = info.high if math.isfinite(info.high) else float(cells[metric].max())
    cmap = "viridis" if info.direction != "min" else "viridis_r"
    share = lambda v: (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5  # noqa: E731
    dark = lambda v: share(v) < 0.6 if cmap == "viridis" else share(v) > 0.4  # noqa: E731  viridis is dark at its low end
    for ax, cond in zip(axes[0], conditionings):
        sub = cells[cells["panel"] == cond]
        grid = np.full((len(ratios), len(LR_LABELS)), np.nan)
        counts = np.zeros_like(grid, dtype=int)
        for _, row in sub.iterrows():
            i, j = list(ratios).index(row["dg_ratio"]), LR_LABELS.index(row["lr_ratio"])
            grid[i, j], counts[i, j] = row[metric], row["trials"]
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for i in range(len(ratios)):
            for j in range(len(LR_LABELS)):
                if counts[i, j]:
                    ax.text(j, i, f"{grid[i, j]:.2f}\nn={counts[i, j]}", ha="center", va="center", fontsize=7,
                            color="white" if dark(grid[i, j]) else "black")
        ax.set_xticks(range(len(LR_LABELS)), LR_LABELS, fontsize=7)
        ax.set_yticks(range(len(ratios)), ratios)
        ax.set_xlabel("lr_d / lr_g")
        ax.set_title(cond, fontsize=9)
    axes[0, 0].set_ylabel("D:G steps")
    fig.colorbar(image, ax=axes[0].tolist(), label=metric + (" (share of trials)" if metric in ("collapsed", "failed") else ""))
    fig.suptitle(f"{metric} by D/G ratio and learning-rate ratio")
    out.mkdir(parents=True, exist_ok=True)
    png, csv = out / f"collapse_map_{metric}.png", out / f"collapse_map_{metric}.csv"
    fig.savefig(png, dpi=90, bbox_inches="tight")
    plt.close(fig)
    cells.drop(columns="log_dg").to_csv(csv, index=False)
    return [png, csv]


def trajectory(study: StudyResults, metric: str, out: Path) -> Path:
    """Mean of the metric over training steps, one line per D/G ratio (baselines as their own lines), with
    the trials' min-max band and n in the legend."""
    history = study.history.merge(study.trials[["trial_id", "dg_ratio", "log_dg"]], on="trial_id")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for ratio, group in sorted(history.groupby("dg_ratio"), key=lambda kv: -kv[1]["log_dg"].iloc[0]):
        by_step = group.groupby("step")[metric]
        mean, n, count = by_step.mean(), group["trial_id"].nunique(), by_step.count()
        line, = ax.plot(mean.index, mean.values, marker="o", ms=3, label=f"{ratio} (n={n})")
        partial = count < n  # steps that trials stopped early (collapse stopper, ASHA) did not reach
        if partial.any():
            ax.scatter(mean.index[partial], mean.values[partial], s=30, facecolors="white", edgecolors=line.get_color(),
                       zorder=3)
            for step, value, c in zip(mean.index[partial], mean.values[partial], count[partial]):
                ax.annotate(f"n={c}", (step, value), textcoords="offset points", xytext=(0, 5), fontsize=6,
                            ha="center", color=line.get_color())
        if n > 1:
            ax.fill_between(mean.index, by_step.min().values, by_step.max().values, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("training iteration")
    ax.set_ylabel(metric)
    ax.legend(title="D:G (trials)", fontsize=7)
    ax.set_title(f"{metric} during training: mean, band = min to max over trials;\n"
                 "hollow: a step some trials did not reach (stopped early), with the n that did", fontsize=9)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"trajectory_{metric}.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


FLAGS = ("collapsed", "failed")  # 0/1 at a report: their boundary is a probability


def jeffreys(k: int, n: int) -> tuple[float, float, float]:
    """k of n: the share and its Jeffreys 95% interval (Beta(k + 1/2, n - k + 1/2) quantiles), with Brown, Cai &
    DasGupta's (2001) ends: 0 below when k is 0, 1 above when k is n."""
    from scipy.stats import beta

    low = 0.0 if k == 0 else float(beta.ppf(0.025, k + 0.5, n - k + 0.5))
    high = 1.0 if k == n else float(beta.ppf(0.975, k + 0.5, n - k + 0.5))
    return k / n, low, high


def boundary_table(study: StudyResults, target: str = "collapsed", n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The boundary of `target` over log2(D/G) x log10(lr_d / lr_g) (binned as the map), per panel, with its
    uncertainty: for a flag (collapsed, failed) P(target) at the last report with a Jeffreys 95% interval
    (Beta(k + 1/2, n - k + 1/2) quantiles, 0 or 1 at the ends; Brown, Cai & DasGupta 2001); for another metric (an adherence) its
    mean with a bootstrap 95% interval. Trials whose value is missing (an adherence of an unconditioned
    trial, NaN) are left out of their cell."""
    gan = study.trials[study.trials["method"] == "gan"].copy()
    if gan.empty or target not in gan:
        raise UserError(f"no GAN trial in {study.uri} reported {target!r}")
    gan = gan.dropna(subset=[target])
    gan["lr_ratio"] = lr_bin(gan["log10_lr_ratio"])
    gan["panel"] = "cond: " + gan["conditioning"]
    if gan["d_norm"].nunique() > 1:
        gan["panel"] += ", D norm: " + gan["d_norm"]
    rng = np.random.default_rng(seed)
    rows = []
    for (panel, ratio, log_dg, lr), cell in gan.groupby(["panel", "dg_ratio", "log_dg", "lr_ratio"]):
        v = cell[target].to_numpy(dtype=float)
        if target in FLAGS:
            value, low, high = jeffreys(int((v >= 1).sum()), len(v))
        else:
            means = rng.choice(v, (n_boot, len(v)), replace=True).mean(axis=1)
            value, low, high = float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
        rows.append({"panel": panel, "dg_ratio": ratio, "log2_dg": log_dg, "lr_ratio": lr, "trials": len(v),
                     target: value, "low": float(low), "high": float(high)})
    return pd.DataFrame(rows).sort_values(["panel", "log2_dg", "lr_ratio"], ignore_index=True)


def boundary(study: StudyResults, target: str, out: Path) -> list[Path]:
    """boundary_table drawn: per panel, P(target) (or its mean) by log2(D/G) across, one line per lr-ratio bin,
    with the 95% interval as a band; and the table as CSV."""
    cells = boundary_table(study, target)
    panels = sorted(cells["panel"].unique())
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels) + 1, 3.4), squeeze=False, sharey=True)
    for ax, panel in zip(axes[0], panels):
        sub = cells[cells["panel"] == panel]
        for lr in [b for b in LR_LABELS if b in set(sub["lr_ratio"])]:
            line = sub[sub["lr_ratio"] == lr]
            drawn, = ax.plot(line["log2_dg"], line[target], marker="o", ms=3, label=f"lr_d/lr_g {lr}")
            ax.fill_between(line["log2_dg"], line["low"], line["high"], color=drawn.get_color(), alpha=0.15)
            for x, y, n in zip(line["log2_dg"], line[target], line["trials"]):
                ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(0, 4), fontsize=6, ha="center")
        ax.set_xlabel("log2(D steps / G steps)")
        ax.set_title(panel, fontsize=9)
    axes[0, 0].set_ylabel(f"P({target})" if target in FLAGS else f"mean {target}")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{target} by D/G ratio and learning-rate ratio, with 95% intervals "
                 + ("(Jeffreys)" if target in FLAGS else "(bootstrap)"), fontsize=10)
    out.mkdir(parents=True, exist_ok=True)
    png, csv = out / f"boundary_{target}.png", out / f"boundary_{target}.csv"
    fig.savefig(png, dpi=90, bbox_inches="tight")
    plt.close(fig)
    cells.to_csv(csv, index=False)
    return [png, csv]
