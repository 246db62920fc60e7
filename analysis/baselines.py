"""GAN (best and median config) vs VAE vs IMLE on every metric: mean +- 95% CI over seeds, with a test.

    python analysis/baselines.py RESULTS_DIR [--baselines DIR] [--metric healthy_coverage] [--out DIR]

A config is a trial's hyperparameters without its seed. GAN rows: the config with the best and the
median mean `--metric`; VAE and IMLE rows: each method's best config. p is Welch's t-test of each
row's seeds against the best GAN config's on `--metric`. Writes baselines.csv/.md/.png.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from mgen.errors import UserError  # noqa: E402
from mgen.metrics.registry import direction  # noqa: E402
from mgen.results import PARAM_PREFIX, analysis_main, load_study  # noqa: E402

METRICS = ("healthy_coverage", "coverage", "precision", "recall", "density", "frechet_distance", "diversity",
           "music_overlap", "ndb_ratio", "jsd", "memorisation", "z_sensitivity", "collapsed", "failed",
           "modes_captured", "high_quality")


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95% t-interval (NaN with fewer than two seeds: there is no interval)."""
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan")), float("nan")
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * stats.sem(values))


def config_groups(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials with a `config` key: their hyperparameters except the seed."""
    keys = [c for c in trials.columns if c.startswith(PARAM_PREFIX) and c != PARAM_PREFIX + "seed"]
    trials = trials.copy()
    trials["config"] = trials[keys].map(str).agg("|".join, axis=1)  # map(str): NaN too
    return trials


def comparison(trials: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    trials = config_groups(trials)
    metrics = [m for m in METRICS if m in trials]
    picks = {}
    lower_is_better = direction(metric) == "min"
    gan = trials[trials["method"] == "gan"]
    if not gan.empty:
        ranked = gan.groupby("config")[metric].mean().sort_values(ascending=lower_is_better, kind="stable")
        picks["GAN (best config)"] = ranked.index[0]
        picks["GAN (median config)"] = ranked.index[len(ranked) // 2]
    for method, label in (("vae", "VAE"), ("imle", "IMLE")):
        sub = trials[trials["method"] == method]
        if not sub.empty:
            means = sub.groupby("config")[metric].mean()
            picks[label] = means.idxmin() if lower_is_better else means.idxmax()
    if not picks:
        raise UserError("no GAN, VAE or IMLE trials found")
    rows, seeds = [], {}
    reference = trials[trials["config"] == picks.get("GAN (best config)", "")][metric].values
    for label, config in picks.items():
        group = trials[trials["config"] == config]
        seeds[label] = group[metric].values
        row = {"model": label, "seeds": len(group)}
        for m in metrics:
            mean, half = mean_ci(group[m].values)
            row[m], row[f"{m}_ci95"] = mean, half
        if len(reference) >= 2 and len(group) >= 2 and not label.startswith("GAN (best"):
            row[f"p_vs_best_gan_{metric}"] = float(stats.ttest_ind(group[metric], reference, equal_var=False).pvalue)
        else:
            row[f"p_vs_best_gan_{metric}"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows), seeds


def markdown(table: pd.DataFrame, metric: str) -> str:
    return formatted(table, metric).to_markdown(index=False) + "\n"


def formatted(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The comparison as text: mean ± 95% CI (or n and no CI), 3 decimals, p-values to 3 figures."""
    metrics = [m for m in METRICS if m in table]
    shown = pd.DataFrame({"model": table["model"], "seeds": table["seeds"]})
    for m in metrics:
        shown[m] = [f"{v:.3f} ± {h:.3f}" if h == h else f"{v:.3f} (n={n}, no CI)"
                    for v, h, n in zip(table[m], table[f"{m}_ci95"], table["seeds"])]
    shown[f"p vs best GAN ({metric})"] = [f"{p:.3g}" if p == p else "" for p in table[f"p_vs_best_gan_{metric}"]]
    return shown


def run(results: str, out: Path, metric: str, baselines: str | None = None) -> list[Path]:
    trials = load_study(results).trials
    if baselines:
        trials = pd.concat([trials, load_study(baselines).trials], ignore_index=True)
    table, _ = comparison(trials, metric)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "baselines.csv", index=False)
    (out / "baselines.md").write_text(markdown(table, metric))
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.bar(table["model"], table[metric], yerr=np.nan_to_num(table[f"{metric}_ci95"].to_numpy(float)), capsize=4)
    ax.set_xticks(range(len(table)), [f"{m}\n(n={n})" for m, n in zip(table["model"], table["seeds"])])
    ax.set_ylabel(f"{metric} (mean ± 95% CI; none for n=1)")
    ax.tick_params(axis="x", labelsize=8)
    fig.savefig(out / "baselines.png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return [out / "baselines.csv", out / "baselines.md", out / "baselines.png"]


def main(argv=None) -> int:
    return analysis_main("baselines", __doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
