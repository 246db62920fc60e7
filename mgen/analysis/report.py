"""One self-contained HTML report of a study: collapse maps, sensitivity, baselines, best samples.

    python analysis/report.py RESULTS_DIR [--baselines DIR] [--metric healthy_coverage] [--out report.html]

Images and audio are inlined (base64), so the file reads offline and travels alone.
"""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

from mgen.analysis import baselines as baselines_table
from mgen.analysis import best_samples, collapse_map, sensitivity
from mgen.analysis.results import analysis_parser, load_study
from mgen.errors import UserError, run_cli
from mgen.metrics.registry import direction

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
img{max-width:100%;border:1px solid #ddd;margin:.4em 0}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}h2{border-bottom:1px solid #ccc}
.note{color:#666;font-size:13px}.warning{color:#a40000;background:#fff0f0;padding:.4em}"""


def image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def audio(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<audio controls src="data:audio/wav;base64,{data}"></audio>'


def section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


SMALL_N = 20  # fewer trials than this: importances and aggregates are a rough reading, and the report says so


def fmt(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)


def table_html(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def trial_rows(study, metric: str) -> list[dict]:
    """One row a trial: the params that vary between trials, status at its last report, best metric, reports,
    last step."""
    from mgen.metrics.registry import health_status

    params = [c for c in study.trials.columns if c.startswith("param/") and study.trials[c].map(str).nunique() > 1]
    rows = []
    for _, t in study.trials.sort_values(f"best_{metric}", ascending=direction(metric) == "min").iterrows():
        rows.append({"trial": t["trial_id"], **{c[6:]: t[c] for c in params},
                     "status (last report)": health_status(t.to_dict()), f"best {metric}": t.get(f"best_{metric}"),
                     "reports": t["reports"], "last step": t.get("step")})
    return rows


def conditioning_rows(study) -> list[dict]:
    """Adherence beside collapse, per conditioning (and D/G ratio where the study varies it): trials, share
    healthy at the last report, and the mean and sd of coverage and of each condition's adherence."""
    import pandas as pd

    from mgen.metrics.registry import health_status

    t = study.trials
    if "param/conditioning" not in t or "chord_adherence" not in t:
        return []
    t = t[t["param/conditioning"].notna()]  # reference rows (VAE, IMLE) have no conditioning of the map's
    keys = ["param/conditioning"] + [c for c in ("param/dg_ratio",) if c in t and t[c].map(str).nunique() > 1]
    t = t.assign(healthy=[health_status(r) == "healthy" for r in t.to_dict("records")])
    rows = []
    for key, g in t.groupby([t[k].map(str) for k in keys], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = {k[6:]: v for k, v in zip(keys, key)} | {"trials": len(g), "healthy": f"{int(g['healthy'].sum())}/{len(g)}"}
        for m in ("coverage", "chord_adherence", "prev_adherence"):
            v = pd.to_numeric(g[m], errors="coerce").dropna()
            row[m] = "" if v.empty else f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"
        rows.append(row)
    return rows


def settings_html(results: str, study) -> str:
    """The study's flags (study_args.json), its summary's verdicts and the versions this report ran with."""
    import json

    from mgen.files import package_versions

    summary = study.summary or {}
    flags = {}
    try:
        flags = json.loads((Path(results) / "study_args.json").read_text())
    except (OSError, ValueError):
        pass
    shown = {k: flags[k] for k in ("budget", "data", "search", "num_samples", "scheduler", "metric", "mode", "seed",
                                   "set", "only", "population", "max_failures", "wandb_project") if k in flags}
    # study.json's counts: healthy at a trial's best report, the others at its last (the header counts all at the last)
    labels = {"controls_passed": "controls_passed", "healthy": "healthy (best report)",
              "collapsed": "collapsed (last report)", "failed": "failed (last report)", "errored": "errored"}
    shown.update({label: summary[k] for k, label in labels.items() if k in summary})
    versions = package_versions()
    study_versions = summary.get("versions", {})
    wandb_note = (f"W&B: project {html.escape(str(flags.get('wandb_project', 'mgen')))}, group "
                  f"{html.escape(Path(results).name)}; offline runs in {html.escape(str(Path(results) / 'wandb'))} "
                  "(upload with <code>wandb sync</code>)" if not flags.get("no_wandb") else "W&B: off (--no-wandb)")
    return (table_html([{"setting": k, "value": v} for k, v in shown.items()])
            + f"<p class='note'>{wandb_note}. Optuna storage: {html.escape(str(Path(results) / 'optuna.db'))} "
            "(browse with <code>optuna-dashboard sqlite:///…/optuna.db</code>) when the study used Optuna.</p>"
            + "<p class='note'>Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())
            + (" (study ran with " + ", ".join(f"{k} {v}" for k, v in study_versions.items()) + ")" if study_versions else "")
            + "</p>")


def partial_note(results: Path, study) -> str | None:
    """Why this report is of a partial study (still running, or interrupted and not resumed), or None: a
    finished study's study.json is written after every trial's last report."""
    summary_file = results / "study.json"
    reports = [p.stat().st_mtime for p in results.glob("*/progress.csv")]
    if summary_file.exists() and (not reports or summary_file.stat().st_mtime >= max(reports)):
        return None
    return (f"Partial: {len(study.trials)} trials have reported so far, and the study has not ended (no study.json "
            "written after their last reports): it is still running, or was interrupted (--resume continues it). "
            "Every figure below is of the trials so far.")


def build(results: str, out: Path, metric: str = "healthy_coverage", baselines: str | None = None) -> Path:
    # Each study is read once, here; every section below takes the loaded results.
    study = load_study(results, metrics_for_best=(metric,))
    if baselines:  # a wrong --baselines is one line and exit 2, not a paragraph in the page
        baselines = load_study(baselines)
    work = Path(tempfile.mkdtemp(prefix="mgen-report-"))
    # The opening counts are the trial table's statuses, one a trial (a failed trial is not also counted as
    # collapsed, though its collapsed flag may be set too).
    rows = trial_rows(study, metric)
    status = [r["status (last report)"] for r in rows]
    parts = [f"<h1>Study {html.escape(Path(results).name)}</h1>",
             f'<p class="note">{len(study.trials)} trials from {html.escape(str(results))}; at their last report '
             f"{status.count('healthy')} healthy, {status.count('collapsed')} collapsed, "
             f"{status.count('failed')} failed to train "
             f"({int(study.trials['diverged'].sum())} diverged). Study metric: {html.escape(metric)} "
             f"({'higher' if direction(metric) == 'max' else 'lower'} is better).</p>"]
    partial = partial_note(Path(results), study)
    if partial:
        parts.append(f'<p class="warning">{html.escape(partial)}</p>')
    if study.unread:
        parts.append(f'<p class="warning">{len(study.unread)} trial folder(s) had no readable reports and are left '
                     f"out: {html.escape(', '.join(study.unread))}</p>")
    if len(study.trials) < SMALL_N:
        parts.append(f'<p class="warning">{len(study.trials)} trials: too few for importances and per-group '
                     "averages to be more than a rough reading; every aggregate below gives its n.</p>")
    parts.append(section("Study settings", settings_html(results, study)))
    parts.append(section("Trials", table_html(rows)))
    try:
        files = collapse_map.run(study, work, list(dict.fromkeys([metric, "diversity", "collapsed", "failed"])))
        parts.append(section("Collapse maps", (
            "<p class='note'>Maps: each cell's mean at the last report, with its trial count. Trajectories: the "
            "mean during training per D/G ratio. Boundaries: P(collapsed) (and each adherence's mean, in a "
            "conditioned study) by log2(D/G) and learning-rate ratio, with 95% intervals (Jeffreys for a share, "
            "bootstrap for a mean).</p>") + "".join(image(f) for f in files if f.suffix == ".png")))
    except UserError as exc:
        parts.append(section("Collapse maps", f"<p>{html.escape(str(exc))}</p>"))
    cond_rows = conditioning_rows(study)
    if cond_rows:
        parts.append(section("Conditioning: does G follow its condition?", (
            "<p class='note'>Adherence at the last report (mean ± sd over trials): each condition's gain over "
            "shuffled conditions, generated over real (mgen/metrics/adherence.py); about 0 = the condition is "
            "ignored, about 1 = followed as the held-out data follow theirs. A conditioning without a chord "
            "(or previous bar) still gets that column: its value is what ignoring it scores.</p>")
            + table_html(cond_rows)))
    try:
        files = sensitivity.run(study, work, metric, baselines)
        import pandas as pd

        imp = pd.read_csv(work / f"importance_{metric}.csv", index_col=0)
        rows = [{"hyperparameter": k, "fANOVA importance": round(float(r["importance"]), 3),
                 "95% interval": f"{r['low']:.3f} to {r['high']:.3f}"} for k, r in imp.iterrows()]
        parts.append(section("Hyperparameter sensitivity", (
            f"<p class='note'>fANOVA (Optuna) over {len(study.trials)} trials; the interval is the 2.5th to 97.5th "
            f"percentile of the importances refitted on {int(imp['resamples'].iloc[0])} bootstrap resamples of the "
            "trials. Then: Optuna's importance and slice plots, each hyperparameter's marginal effect (mean and "
            "bootstrap 95% interval per value or quantile bin) and the expected best metric against trials run "
            "(per method and per D/G ratio).</p>") + table_html(rows)
            + "".join(image(f) for f in files if f.suffix == ".png")))
    except UserError as exc:
        parts.append(section("Hyperparameter sensitivity", f"<p>{html.escape(str(exc))}</p>"))
    try:
        import pandas as pd

        try:  # at equal iterations and, where the reports carry training CPU seconds, at equal compute
            baselines_table.run(study, work, metric, baselines, at_compute=0.0)
        except UserError:
            baselines_table.run(study, work, metric, baselines)
        table = pd.read_csv(work / "baselines.csv")  # what run() compared: the studies are not read again
        body = ("<p class='note'>At equal iterations: each trial's last report.</p>"
                + baselines_table.formatted(table, metric).to_html(index=False) + image(work / "baselines.png"))
        if (work / "baselines_compute.csv").exists():
            at_cpu = pd.read_csv(work / "baselines_compute.csv")
            body += ("<p class='note'>At equal compute: each trial's last report within the training CPU seconds the "
                     f"cheapest row used in all ({at_cpu['cpu_budget'].iloc[0]:.0f} s); the step column "
                     "says where each row was read.</p>" + baselines_table.formatted(at_cpu, metric).to_html(index=False))
        if (work / "baselines_trajectory.png").exists():
            body += image(work / "baselines_trajectory.png")
        parts.append(section("GAN vs baselines", body))
    except UserError as exc:
        parts.append(section("GAN vs baselines", f"<p>{html.escape(str(exc))}</p>"))
    samples = best_samples.run(study, work / "samples", metric, n=16)
    body = (f"<p>Trial {html.escape(str(samples['trial_id']))} ({html.escape(metric)} = {samples['value']:.4f}); "
            f"checkpoint {html.escape(str(samples['checkpoint']))}.</p>"
            + (f'<p class="warning"><b>Warning:</b> {html.escape(samples["warning"])}</p>' if samples.get("warning") else "")
            + image(work / "samples" / "samples.png"))
    wavs = sorted((work / "samples").glob("*.wav"))
    if wavs:
        body += f"<p>Audio ({html.escape(samples.get('renderer', ''))} rendering):</p>" + audio(wavs[0])
    parts.append(section("Best samples", body))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>mgen report</title>"
                   f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return out


def main(argv=None) -> int:
    p = analysis_parser(__doc__, "out/report.html")
    args = p.parse_args(argv)
    return run_cli("report", lambda: direction(args.metric) and print(
        f"wrote {build(args.results, Path(args.out), args.metric, args.baselines)}"))

