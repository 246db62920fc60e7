"""Which hyperparameters matter: fANOVA importance, marginal effects, and the expected best metric vs trials run.

    python analysis/sensitivity.py RESULTS_DIR [--metric healthy_coverage] [--baselines DIR] [--out DIR]

Importance uses Optuna's fANOVA evaluator (Hutter et al. 2014) on the study's trials, whatever search
produced them. The expected-max curve (Dodge et al. 2019) gives, for n trials drawn at random from
those run, the expected best metric, with a bootstrapped 95% band; GAN and baselines side by side.
"""
from __future__ import annotations

import math
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


def _save(axes, path: Path) -> Path:
    figure = np.atleast_1d(axes).flat[0].figure
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)
    return path


def expected_max(values: np.ndarray, n_boot: int = 500, seed: int = 0, mode: str = "max"):
    """For n = 1..N: expected best of n trials drawn without replacement, and a bootstrap 95% band.

    mode "min" (a metric where lower is better): the expected minimum, as the negated maximum of negations.
    """
    if mode == "min":
        n, mean, lo, hi = expected_max(-np.asarray(values, dtype=float), n_boot, seed)
        return n, -mean, -hi, -lo
    values = np.sort(np.asarray(values, dtype=float))
    values = values[~np.isnan(values)]
    n_total = len(values)

    def curve(v):
        v = np.sort(v)
        # P(max of n draws is the i-th smallest) = C(i, n) - C(i-1, n) over C(N, n), with i 1-based.
        out = []
        for n in range(1, len(v) + 1):
            weights = np.array([math.comb(i, n) - math.comb(i - 1, n) for i in range(1, len(v) + 1)], float)
            out.append(float((weights / math.comb(len(v), n)) @ v))
        return np.array(out)

    mean = curve(values)
    rng = np.random.default_rng(seed)
    boots = np.stack([curve(rng.choice(values, n_total, replace=True)) for _ in range(n_boot)])
    return np.arange(1, n_total + 1), mean, np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)


def run(results, out: Path, metric: str, baselines=None) -> list[Path]:
    """results, baselines: a study's folder or URI, or its loaded StudyResults."""
    trials = as_study(results).trials
    if baselines:
        trials = pd.concat([trials, as_study(baselines).trials], ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    gan = trials[trials["method"] == "gan"]
    imp = importances(gan if len(gan) >= 2 else trials, metric)
    imp.to_csv(out / f"importance_{metric}.csv", header=True)
    (out / f"importance_{metric}.md").write_text(imp.to_frame().to_markdown(floatfmt=".3f") + "\n")
    # Optuna's own plots of the same study: importances (the same fANOVA, the same seed) and, per varied
    # hyperparameter, every trial's metric against its value (categorical or log axes as the values need).
    study_for_plots = optuna_study(gan if len(gan) >= 2 else trials, metric)
    with warnings.catch_warnings():  # optuna.visualization.matplotlib is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        files.append(_save(plot_param_importances(study_for_plots, evaluator=optuna.importance.FanovaImportanceEvaluator(
            seed=0), target_name=f"fANOVA importance for {metric}"), out / f"importance_{metric}.png"))
        files.append(_save(plot_slice(study_for_plots, target_name=metric), out / f"marginals_{metric}.png"))
    files += [out / f"importance_{metric}.{ext}" for ext in ("csv", "md")]
    # Expected best metric vs trials run, per method.
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for method, group in trials.groupby("method"):
        n, mean, lo, hi = expected_max(group[metric].values, mode=direction(metric))
        ax.plot(n, mean, label=method)
        ax.fill_between(n, lo, hi, alpha=0.2)
    ax.set_xlabel("trials run")
    ax.set_ylabel(f"expected best {metric}")
    ax.legend()
    fig.savefig(out / f"expected_max_{metric}.png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    files.append(out / f"expected_max_{metric}.png")
    return files


def main(argv=None) -> int:
    return analysis_main("sensitivity", __doc__, run, argv)

