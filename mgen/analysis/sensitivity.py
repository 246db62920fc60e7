"""Which hyperparameters matter: fANOVA importance, marginal effects, and the expected best metric vs trials run.

    python analysis/sensitivity.py RESULTS_DIR [--metric healthy_coverage] [--baselines DIR] [--out DIR]

- Importance: Optuna's fANOVA evaluator (Hutter et al. 2014) on the study's trials, whatever search
  produced them, with a 95% interval from refitting it on bootstrap resamples of the trials.
- Marginal effects: the metric's mean per value (or per quantile bin of a log-scaled range) of each
  varied hyperparameter, with a bootstrap 95% interval of the mean.
- Expected best metric against the number of trials run (Dodge et al. 2019, "Show your work"), with
  Tang et al.'s (2020) unbiased estimator: the exact expectation of the best of n trials drawn without
  replacement from the N run, and a bootstrap 95% band; per method and, for the GAN, per D/G ratio.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402

from mgen.errors import UserError  # noqa: E402
from mgen.metrics.registry import direction  # noqa: E402
from mgen.analysis.results import PARAM_PREFIX, analysis_main, as_study  # noqa: E402
from optuna.visualization.matplotlib import plot_param_importances, plot_slice  # noqa: E402


optuna.logging.set_verbosity(optuna.logging.WARNING)


def varied_params(trials: pd.DataFrame) -> list[str]:
    return [c for c in trials.columns if c.startswith(PARAM_PREFIX) and trials[c].map(str).nunique() > 1]


def _distribution(values: pd.Series):
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > 3:
        lo, hi = float(values.min()), float(values.max())
        return optuna.distributions.FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 10)
    return optuna.distributions.CategoricalDistribution(sorted(values.map(str).unique()))


def optuna_study(trials: pd.DataFrame, metric: str, mode: str | None = None) -> optuna.Study:
    """The trials' varied hyperparameters (PARAM_PREFIX columns) and the `metric` column (by default its last
    report) as an in-memory Optuna study (whatever search produced them), for Optuna's importance evaluators and
    plots; mode: "max" or "min", by default the metric's direction in the registry."""
    trials = trials.dropna(subset=[metric])
    params = varied_params(trials)
    if len(trials) < 2 or not params:
        raise UserError(f"importance needs at least 2 trials that differ in a hyperparameter and report {metric}")
    if trials[metric].nunique() < 2:
        raise UserError(f"every trial has {metric}={trials[metric].iloc[0]:.4g}: no variance for fANOVA to explain; "
                        "pick another --metric or run more trials")
    dists = {p[len(PARAM_PREFIX):]: _distribution(trials[p]) for p in params}
    study = optuna.create_study(direction="maximize" if (mode or direction(metric)) == "max" else "minimize")
    for _, row in trials.iterrows():
        values = {name: (str(row[PARAM_PREFIX + name]) if isinstance(d, optuna.distributions.CategoricalDistribution)
                         else float(row[PARAM_PREFIX + name])) for name, d in dists.items()}
        study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, value=float(row[metric])))
    return study


def importances(trials: pd.DataFrame, metric: str, seed: int = 0, mode: str | None = None) -> pd.Series:
    """fANOVA importance of each varied hyperparameter for the `metric` column (the report's and the W&B study
    run's: one computation)."""
    result = optuna.importance.get_param_importances(
        optuna_study(trials, metric, mode), evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed),
        normalize=True)
    return pd.Series(result, name="importance")


def importance_intervals(trials: pd.DataFrame, metric: str, n_boot: int = 30, seed: int = 0,
                         mode: str | None = None) -> pd.DataFrame:
    """fANOVA importance of each varied hyperparameter on all trials, and the 2.5th and 97.5th percentiles of
    the importances refitted on `n_boot` bootstrap resamples of the trials (drawn with replacement; a resample
    where nothing varies is skipped, and a parameter that stops varying in one counts 0 there)."""
    point = importances(trials, metric, seed, mode)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        sample = trials.iloc[rng.integers(0, len(trials), len(trials))]
        try:
            boots.append(importances(sample, metric, seed, mode))
        except UserError:
            continue
    frame = pd.DataFrame(boots).reindex(columns=point.index).fillna(0.0)
    return pd.DataFrame({"importance": point, "low": frame.quantile(0.025), "high": frame.quantile(0.975),
                         "resamples": len(frame)}).rename_axis("param")


def marginal_effects(trials: pd.DataFrame, metric: str, bins: int = 4, n_boot: int = 500, seed: int = 0) -> pd.DataFrame:
    """One row per (varied hyperparameter, value or bin): the trials there, the metric's mean and a bootstrap 95%
    interval of that mean. A numeric parameter with more than `bins` values is cut into quantile bins (on a log
    scale where all values are positive and span a factor of 10 or more), labelled by their median."""
    rng = np.random.default_rng(seed)
    trials = trials.dropna(subset=[metric])
    rows = []
    for column in varied_params(trials):
        values = trials[column]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > bins:
            x = values.astype(float)
            scaled = np.log10(x) if (x > 0).all() and x.max() / x.min() >= 10 else x
            groups = pd.qcut(scaled, bins, duplicates="drop")
            keyed = [(float(g.median()), trials.loc[g.index, metric]) for _, g in x.groupby(groups, observed=True)]
        else:
            keyed = [(key, g[metric]) for key, g in trials.groupby(values.map(str) if not pd.api.types.is_numeric_dtype(values)
                                                                    else values)]
        for key, metric_values in keyed:
            v = metric_values.to_numpy(dtype=float)
            means = rng.choice(v, (n_boot, len(v)), replace=True).mean(axis=1)
            rows.append({"param": column[len(PARAM_PREFIX):], "value": key, "trials": len(v), "mean": float(v.mean()),
                         "low": float(np.percentile(means, 2.5)), "high": float(np.percentile(means, 97.5))})
    return pd.DataFrame(rows, columns=["param", "value", "trials", "mean", "low", "high"])


def expected_max_curves(trials: pd.DataFrame, metric: str, mode: str | None = None, n_boot: int = 500) -> pd.DataFrame:
    """Expected best metric against trials run, per method and, for the GAN trials, per D/G ratio where they
    vary: one row per (group, n) with the expectation and its bootstrap 95% band."""
    mode = mode or direction(metric)
    groups = [(f"method={m}", g) for m, g in trials.groupby("method")]
    gan = trials[trials["method"] == "gan"]
    if "dg_ratio" in gan and gan["dg_ratio"].nunique() > 1:
        groups += [(f"gan dg_ratio={r}", g) for r, g in gan.groupby("dg_ratio")]
    rows = []
    for label, g in groups:
        values = g[metric].dropna().to_numpy(dtype=float)
        if len(values) == 0:
            continue
        n, mean, lo, hi = expected_max(values, n_boot=n_boot, mode=mode)
        rows += [{"group": label, "n": int(k), "expected_best": m, "low": a, "high": b} for k, m, a, b in zip(n, mean, lo, hi)]
    return pd.DataFrame(rows, columns=["group", "n", "expected_best", "low", "high"])


def _save(axes, path: Path) -> Path:
    figure = np.atleast_1d(axes).flat[0].figure
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)
    return path


def max_weights(total: int) -> np.ndarray:
    """W (total x total): W[n-1, i-1] = P(the best of n trials drawn without replacement from `total` is the i-th
    smallest) = C(i-1, n-1) / C(total, n) (Tang et al. 2020's unbiased estimator of Dodge et al.'s expected max:
    W @ sorted values), in log space so that hundreds of trials do not overflow."""
    from scipy.special import gammaln

    def log_comb(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    n = np.arange(1, total + 1)[:, None]
    i = np.arange(1, total + 1)[None, :]
    with np.errstate(invalid="ignore"):
        logw = log_comb(i - 1, n - 1) - log_comb(total, n)
    return np.where(i >= n, np.exp(np.where(i >= n, logw, 0.0)), 0.0)


def expected_max(values: np.ndarray, n_boot: int = 500, seed: int = 0, mode: str = "max"):
    """For n = 1..N: expected best of n trials drawn without replacement, and a bootstrap 95% band.

    mode "min" (a metric where lower is better): the expected minimum, as the negated maximum of negations.
    """
    if mode == "min":
        n, mean, lo, hi = expected_max(-np.asarray(values, dtype=float), n_boot, seed)
        return n, -mean, -hi, -lo
    values = np.asarray(values, dtype=float)
    values = np.sort(values[~np.isnan(values)])
    weights = max_weights(len(values))
    mean = weights @ values
    rng = np.random.default_rng(seed)
    boots = np.sort(rng.choice(values, (n_boot, len(values)), replace=True), axis=1) @ weights.T
    return np.arange(1, len(values) + 1), mean, np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)


def marginals_figure(table: pd.DataFrame, metric: str, path: Path) -> Path:
    """marginal_effects drawn: a panel per hyperparameter, the mean per value with its 95% interval."""
    params = list(dict.fromkeys(table["param"]))
    fig, axes = plt.subplots(1, len(params), figsize=(3.2 * len(params) + 0.5, 3.0), squeeze=False, sharey=True)
    for ax, param in zip(axes[0], params):
        rows = table[table["param"] == param]
        values = pd.to_numeric(rows["value"], errors="coerce")  # the table's column mixes words and numbers
        numeric = bool(values.notna().all()) and values.nunique() > 1 and not isinstance(rows["value"].iloc[0], str)
        x = values.astype(float) if numeric else np.arange(len(rows))
        ax.errorbar(x, rows["mean"], yerr=[rows["mean"] - rows["low"], rows["high"] - rows["mean"]], fmt="o-", ms=3,
                    capsize=3)
        for xi, yi, n in zip(x, rows["mean"], rows["trials"]):
            ax.annotate(f"n={n}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=6)
        if numeric and (x > 0).all() and x.max() / x.min() >= 10:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(x, rows["value"].map(str), fontsize=7, rotation=30)
        ax.set_title(param, fontsize=9)
    axes[0, 0].set_ylabel(f"mean {metric}")
    fig.suptitle(f"{metric} by each hyperparameter: mean and bootstrap 95% interval", fontsize=10)
    return _save(axes, path)


def expected_max_figure(curves: pd.DataFrame, metric: str, path: Path) -> Path:
    """expected_max_curves drawn: per method on the left, per D/G ratio of the GAN trials on the right."""
    kinds = [("method=", "per method"), ("gan dg_ratio=", "GAN, per D/G ratio")]
    kinds = [(prefix, title) for prefix, title in kinds if curves["group"].str.startswith(prefix).any()]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 3.5), squeeze=False, sharey=True)
    for ax, (prefix, title) in zip(axes[0], kinds):
        for group, c in curves[curves["group"].str.startswith(prefix)].groupby("group", sort=False):
            ax.plot(c["n"], c["expected_best"], label=f"{group[len(prefix):]} (N={c['n'].max()})")
            ax.fill_between(c["n"], c["low"], c["high"], alpha=0.2)
        ax.set_xlabel("trials run")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel(f"expected best {metric}")
    fig.suptitle("Expected best of n trials (Dodge et al. 2019; Tang et al. 2020's unbiased estimator), 95% bootstrap band",
                 fontsize=9)
    return _save(axes, path)


def run(results, out: Path, metric: str, baselines=None, n_boot: int = 30) -> list[Path]:
    """results, baselines: a study's folder or URI, or its loaded StudyResults. Writes the importances with their
    bootstrap intervals (n_boot refits), Optuna's importance and slice plots, the marginal effects and the
    expected-best curves, each as a picture and a CSV."""
    trials = as_study(results).trials
    if baselines:
        trials = pd.concat([trials, as_study(baselines).trials], ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    gan = trials[trials["method"] == "gan"]
    searched = gan if len(gan) >= 2 else trials
    imp = importance_intervals(searched, metric, n_boot=n_boot)
    imp.to_csv(out / f"importance_{metric}.csv", header=True)
    (out / f"importance_{metric}.md").write_text(imp.to_markdown(floatfmt=".3f") + "\n")
    # Optuna's own plots of the same study: importances (the same fANOVA, the same seed) and, per varied
    # hyperparameter, every trial's metric against its value (categorical or log axes as the values need).
    study_for_plots = optuna_study(searched, metric)
    with warnings.catch_warnings():  # optuna.visualization.matplotlib is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        files.append(_save(plot_param_importances(study_for_plots, evaluator=optuna.importance.FanovaImportanceEvaluator(
            seed=0), target_name=f"fANOVA importance for {metric}"), out / f"importance_{metric}.png"))
        files.append(_save(plot_slice(study_for_plots, target_name=metric), out / f"slices_{metric}.png"))
    files += [out / f"importance_{metric}.{ext}" for ext in ("csv", "md")]
    effects = marginal_effects(searched, metric)
    effects.to_csv(out / f"marginals_{metric}.csv", index=False)
    files += [marginals_figure(effects, metric, out / f"marginals_{metric}.png"), out / f"marginals_{metric}.csv"]
    curves = expected_max_curves(trials, metric)
    curves.to_csv(out / f"expected_max_{metric}.csv", index=False)
    files += [expected_max_figure(curves, metric, out / f"expected_max_{metric}.png"), out / f"expected_max_{metric}.csv"]
    return files


def main(argv=None) -> int:
    return analysis_main("sensitivity", __doc__, run, argv)

