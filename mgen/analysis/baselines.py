"""GAN vs VAE vs IMLE on every metric, on equal footing: mean +- 95% CI over seeds, with a test.

    python analysis/baselines.py RESULTS_DIR [--baselines DIR] [--metric healthy_coverage] [--out DIR]
                                 [--at-step N] [--at-compute [CPU_SECONDS]]

A config is a trial's hyperparameters without its seed. A study of recipes (studies/baselines.py, or a
map's reference rows) gives one row per recipe; otherwise GAN rows are the configs with the best and the
median mean `--metric`, VAE and IMLE rows each method's best config. p is Welch's t-test of each row's
seeds against the best GAN row's on `--metric`.

Trials are compared only on one footing (mgen.train.config.FOOTING: data, split, output, sizes, batch,
budget, evaluation): trials that differ in any of it are refused. Each row is read at equal iterations
(every trial's last report, or its report at --at-step) and, with --at-compute, at equal compute: each
trial's last report whose training CPU seconds (`train_cpu_seconds`, evaluation left out) are within
the budget, by default the mean total of the cheapest row, so every method is read at the compute the
cheapest one used in all. Writes baselines.csv/.md/.png, baselines_compute.csv with --at-compute, and for one
study with several reports baselines_trajectory.csv/.png (each row's metric at every step: where it stops moving).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from mgen.errors import UserError, run_cli  # noqa: E402
from mgen.metrics.registry import direction, lookup  # noqa: E402
from mgen.analysis.results import PARAM_PREFIX, analysis_parser, as_study  # noqa: E402

METRICS = ("healthy_coverage", "coverage", "precision", "recall", "density", "frechet_distance", "diversity",
           "music_overlap", "pitch_range", "ndb_ratio", "jsd", "memorisation", "duplicate_rate", "z_sensitivity",
           "collapsed", "failed", "modes_captured", "high_quality")
BUDGET_COLUMNS = ("step", "train_cpu_seconds")  # where each row was read
RECIPE_LABELS = {"gan/reference": "GAN recipe (1:1)", "vae/reference": "VAE recipe", "imle/reference": "IMLE recipe"}


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


def check_footing(trials: pd.DataFrame) -> None:
    """Refuse trials that differ in anything methods must share (FOOTING), naming the fields."""
    if "footing" not in trials or trials["footing"].nunique() <= 1:
        return
    parts = trials["footing"].str.split("|", expand=True)  # one column a field, each cell "name=value"
    values = {parts[c].iloc[0].split("=", 1)[0]: sorted({p.split("=", 1)[1] for p in parts[c]})
              for c in parts.columns if parts[c].nunique() > 1}
    shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in values.items())
    raise UserError(f"these trials are not on equal footing: they differ in {', '.join(values)} ({shown}); "
                    "compare studies of the same data, sizes and budget (mgen.train.config.FOOTING)")


def variant_label(variant) -> str:
    text = str(variant)
    if text in RECIPE_LABELS:
        return RECIPE_LABELS[text]
    method, _, rest = text.partition("/")
    return f"GAN recipe at {rest}" if method == "gan" and ":" in rest and "=" not in rest else text


def picks_of(trials: pd.DataFrame, metric: str) -> dict[str, str]:
    """Row label -> config: one per recipe where the trials are recipes, else GAN best and median and
    each baseline's best."""
    lower_is_better = direction(metric) == "min"
    variant = PARAM_PREFIX + "variant"
    picks = {}
    if variant in trials:
        recipes = trials[trials[variant].astype(str).str.contains("/")]  # gan/1:5, vae/reference, ...
        for config, group in recipes.groupby("config", sort=False):
            picks[variant_label(group[variant].iloc[0])] = config
        trials = trials[~trials["config"].isin(picks.values())]
    gan = trials[trials["method"] == "gan"]
    if not gan.empty:
        ranked = gan.groupby("config")[metric].mean().sort_values(ascending=lower_is_better, kind="stable")
        picks["GAN (best config)"] = ranked.index[0]
        if len(ranked) > 1:
            picks["GAN (median config)"] = ranked.index[len(ranked) // 2]
    for method, label in (("vae", "VAE"), ("imle", "IMLE")):
        sub = trials[trials["method"] == method]
        if not sub.empty:
            means = sub.groupby("config")[metric].mean()
            picks[label] = means.idxmin() if lower_is_better else means.idxmax()
    if not picks:
        raise UserError("no GAN, VAE or IMLE trials found")
    order = {"GAN": 0, "VAE": 1, "IMLE": 2}
    return dict(sorted(picks.items(), key=lambda kv: order.get(kv[0].split()[0], 3)))


def comparison(trials: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    check_footing(trials)
    trials = config_groups(trials)
    metrics = [m for m in METRICS if m in trials]
    picks = picks_of(trials, metric)
    lower_is_better = direction(metric) == "min"
    gan_rows = {k: trials[trials["config"] == c][metric].mean() for k, c in picks.items() if k.startswith("GAN")}
    best_gan = (min if lower_is_better else max)(gan_rows, key=gan_rows.get) if gan_rows else None
    reference = trials[trials["config"] == picks[best_gan]][metric].values if best_gan else np.array([])
    rows, seeds = [], {}
    for label, config in picks.items():
        group = trials[trials["config"] == config]
        seeds[label] = group[metric].values
        row = {"model": label, "seeds": len(group)}
        for m in metrics:
            mean, half = mean_ci(group[m].values)
            row[m], row[f"{m}_ci95"] = mean, half
        for m in BUDGET_COLUMNS:
            if m in group:
                row[m] = float(group[m].mean())
        if len(reference) >= 2 and len(group) >= 2 and label != best_gan:
            with warnings.catch_warnings():  # identical seeds (all failed, say) give no test, and SciPy warns
                warnings.simplefilter("ignore", RuntimeWarning)
                row[f"p_vs_best_gan_{metric}"] = float(stats.ttest_ind(group[metric], reference, equal_var=False).pvalue)
        else:
            row[f"p_vs_best_gan_{metric}"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows), seeds


def read_at(study, step: int | None = None, cpu_seconds: float | None = None) -> pd.DataFrame:
    """The trials with their metrics read at one report each: the report at `step`, the last one whose
    train_cpu_seconds is within `cpu_seconds`, or (neither) the last."""
    trials = study.trials.copy()
    if step is None and cpu_seconds is None:
        return trials
    history = study.history
    if cpu_seconds is not None:
        if "train_cpu_seconds" not in history:
            raise UserError("--at-compute needs train_cpu_seconds in the reports (studies run with mgen 2026-12-03 or later)")
        within = history[history["train_cpu_seconds"] <= cpu_seconds]
    else:
        within = history[history["step"] == step]
        if within.empty:
            steps = sorted(history["step"].dropna().unique().astype(int))
            raise UserError(f"--at-step {step}: no report at that step; reports at {', '.join(map(str, steps[:12]))}")
    chosen = within.sort_values("step").groupby("trial_id").tail(1).set_index("trial_id")
    trials = trials[trials["trial_id"].isin(chosen.index)]
    for column in chosen.columns:
        if column in trials:
            trials[column] = trials["trial_id"].map(chosen[column]).values
    return trials.reset_index(drop=True)


def markdown(table: pd.DataFrame, metric: str, columns: list[str] | None = None) -> str:
    return formatted(table, metric, columns).to_markdown(index=False) + "\n"


def formatted(table: pd.DataFrame, metric: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The comparison as text: mean ± 95% CI (or n and no CI), 3 decimals, p-values to 3 figures; only
    `columns` of the metrics when given."""
    metrics = [m for m in (columns or METRICS) if m in table]
    shown = pd.DataFrame({"model": table["model"], "seeds": table["seeds"]})
    for m in BUDGET_COLUMNS:
        if m in table:
            shown[m] = [f"{v:.0f}" for v in table[m]]
    for m in metrics:
        shown[m] = [f"{v:.3f} ± {h:.3f}" if h == h else f"{v:.3f} (n={n}, no CI)"
                    for v, h, n in zip(table[m], table[f"{m}_ci95"], table["seeds"])]
    shown[f"p vs best GAN ({metric})"] = [f"{p:.3g}" if p == p else "" for p in table[f"p_vs_best_gan_{metric}"]]
    return shown


def trajectory(study, trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Each row's mean and 95% CI of `metric` and its training CPU seconds at every reported step: where
    the numbers stop moving, and what each step cost."""
    trials = config_groups(trials)
    rows = []
    for label, config in picks_of(trials, metric).items():
        ids = trials[trials["config"] == config]["trial_id"]
        history = study.history[study.history["trial_id"].isin(ids)]
        for step, at in history.groupby("step"):
            mean, half = mean_ci(at[metric].values)
            rows.append({"model": label, "step": int(step), "seeds": len(at), metric: mean, f"{metric}_ci95": half,
                         "train_cpu_seconds": float(at["train_cpu_seconds"].mean()) if "train_cpu_seconds" in at else float("nan")})
    return pd.DataFrame(rows)


def compute_budget(trials: pd.DataFrame, metric: str) -> float:
    """The default equal-compute budget: the mean total training CPU seconds of the cheapest row."""
    trials = config_groups(trials)
    totals = {label: trials[trials["config"] == c]["train_cpu_seconds"].mean()
              for label, c in picks_of(trials, metric).items()}
    return float(min(totals.values()))


def run(results, out: Path, metric: str, baselines=None, at_step: int | None = None,
        at_compute: float | None = None, columns: list[str] | None = None) -> list[Path]:
    """at_compute: CPU seconds, or 0 for the default budget (the cheapest row's total); columns: the
    metrics baselines.md shows (the CSVs hold them all)."""
    studies = [as_study(results)] + ([as_study(baselines)] if baselines else [])
    frames = [read_at(s, step=at_step) for s in studies]
    trials = pd.concat(frames, ignore_index=True)
    table, _ = comparison(trials, metric)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "baselines.csv", out / "baselines.md", out / "baselines.png"]
    table.to_csv(written[0], index=False)
    text = f"At equal iterations ({'step ' + str(at_step) if at_step else 'each trial’s last report'}):\n\n"
    text += markdown(table, metric, columns)
    if at_compute is not None:
        full = pd.concat([s.trials for s in studies], ignore_index=True)
        if "train_cpu_seconds" not in full:
            raise UserError("--at-compute needs train_cpu_seconds in the reports (studies run with mgen 2026-12-03 or later)")
        budget = at_compute or compute_budget(full, metric)
        at_cpu = pd.concat([read_at(s, cpu_seconds=budget) for s in studies], ignore_index=True)
        compute_table, _ = comparison(at_cpu, metric)
        compute_table["cpu_budget"] = budget
        compute_table.to_csv(out / "baselines_compute.csv", index=False)
        written.append(out / "baselines_compute.csv")
        text += (f"\nAt equal compute (each trial's last report within {budget:.0f} training CPU seconds; the "
                 "step column is where each row was read):\n\n" + markdown(compute_table, metric, columns))
    if len(studies) == 1 and studies[0].history["step"].nunique() > 1:
        curves = trajectory(studies[0], studies[0].trials, metric)
        curves.to_csv(out / "baselines_trajectory.csv", index=False)
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        for label, curve in curves.groupby("model", sort=False):
            ax.plot(curve["step"], curve[metric], marker=".", label=label)
            ax.fill_between(curve["step"], curve[metric] - np.nan_to_num(curve[f"{metric}_ci95"]),
                            curve[metric] + np.nan_to_num(curve[f"{metric}_ci95"]), alpha=0.2)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{metric} (mean ± 95% CI)")
        ax.legend(fontsize=7)
        fig.savefig(out / "baselines_trajectory.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        written += [out / "baselines_trajectory.csv", out / "baselines_trajectory.png"]
    written[1].write_text(text)
    fig, ax = plt.subplots(figsize=(1.4 * len(table) + 1.5, 3.2))
    ax.bar(range(len(table)), table[metric], yerr=np.nan_to_num(table[f"{metric}_ci95"].to_numpy(float)), capsize=4)
    ax.set_xticks(range(len(table)), [f"{m}\n(n={n})" for m, n in zip(table["model"], table["seeds"])])
    ax.set_ylabel(f"{metric} (mean ± 95% CI; none for n=1)")
    ax.tick_params(axis="x", labelsize=8)
    fig.savefig(written[2], dpi=90, bbox_inches="tight")
    plt.close(fig)
    return written


def main(argv=None) -> int:
    p = analysis_parser(__doc__, "out/analysis")
    p.add_argument("--at-step", type=int, help="read every trial at this step's report (default: its last)")
    p.add_argument("--at-compute", type=float, nargs="?", const=0.0, metavar="CPU_SECONDS",
                   help="also compare at equal training CPU seconds (default budget: the cheapest row's total)")
    p.add_argument("--columns", help="metrics baselines.md shows, comma-separated (default: all; the CSVs hold all)")
    args = p.parse_args(argv)

    def body():
        direction(args.metric)
        columns = args.columns.split(",") if args.columns else None
        for name in columns or []:
            lookup(name)  # an unknown metric is one line, before any work
        for f in run(args.results, Path(args.out), args.metric, args.baselines, args.at_step, args.at_compute, columns):
            print(f"wrote {f}")

    return run_cli("baselines", body)

