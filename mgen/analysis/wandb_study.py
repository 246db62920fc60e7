"""The study's own W&B run, written when a study ends: its trials, collapse-map cells and fANOVA importance
tables, the collapse-map and trajectory images, and its counts (the trials' runs are mgen/study/wandb_log.py's).
Plain wandb, no Ray: the study's entry point (mgen/studies.py) calls it after the tuner returns."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mgen.analysis.maps import boundary, boundary_table, cell_table, collapse_map, trajectory
from mgen.analysis.results import PARAM_PREFIX, StudyResults, load_study
from mgen.analysis.sensitivity import (expected_max_curves, expected_max_figure, importance_intervals, marginal_effects,
                                      marginals_figure)
from mgen.errors import UserError
from mgen.metrics.registry import WANDB_QUIET

log = logging.getLogger(__name__)

def study_tables(summary: dict, study: StudyResults | None = None) -> dict:
    """The study run's tables: trials; the collapse map's cells (mgen.analysis.maps.cell_table: what the map
    figures show) where the study's results could be read; the baselines beside the best trial; fANOVA
    importances of the searched params (mgen.analysis.sensitivity: the report's)."""
    rows = [{"trial_id": x["trial_id"], "status": x["status"], "best": x["best"], "control": x["control"],
             **{k: (v if isinstance(v, (int, float)) else str(v)) for k, v in x["params"].items()}}
            for x in summary["ranked"]]
    out = {"trials": pd.DataFrame(rows)}
    keys = [k for k in (rows[0] if rows else {}) if k not in ("trial_id", "status", "best", "control", "seed")]
    if study is not None:
        try:
            out["collapse_map"] = cell_table(study, summary["metric"])
            out["collapse_boundary"] = boundary_table(study, "collapsed")
            for target in ("chord_adherence", "prev_adherence"):
                if target in study.trials and study.trials[target].notna().any():
                    out[f"{target}_boundary"] = boundary_table(study, target)
        except (UserError, KeyError) as exc:  # a baselines-only study, or a metric no trial reported
            log.warning("W&B: no collapse-map table for the study run (%s)", exc)
        out.update(sensitivity_tables(study, summary["metric"]))
    if summary.get("references"):  # each baseline recipe's rows beside the study's best trial
        refs = pd.DataFrame([{k: x[k] for k in ("trial_id", "method", "seed", "status", "best")}
                             for x in summary["references"]])
        if summary.get("best"):
            best = summary["best"]
            refs = pd.concat([pd.DataFrame([{"trial_id": best["trial_id"], "method": "gan (best trial)",
                                             "seed": best["params"].get("seed"), "status": best["status"],
                                             "best": best["best"]}]), refs], ignore_index=True)
        out["references"] = refs
    if not rows:
        return out
    searched = out["trials"][["best", *keys]].rename(columns={k: PARAM_PREFIX + k for k in keys})
    try:  # the same fANOVA and bootstrap as the report's (mgen/analysis/sensitivity.py), on each trial's best value
        imp = importance_intervals(searched, "best", mode=summary.get("mode", "max"))
        out["importance"] = imp.round(3).reset_index().assign(trials=len(searched))
    except (UserError, ValueError, RuntimeError) as exc:  # too few trials, or nothing varied
        log.warning("W&B: no importances for the study run (%s)", exc)
    return out


def sensitivity_tables(study: StudyResults, metric: str) -> dict[str, pd.DataFrame]:
    """The report's sensitivity beyond the importances (mgen.analysis.sensitivity, the same calls): the
    expected best metric against trials run, per method and D/G ratio, and the GAN trials' marginal effects."""
    out = {}
    if metric not in study.trials or study.trials[metric].notna().sum() < 2:
        return out
    gan = study.trials[study.trials["method"] == "gan"]
    try:
        out["expected_best"] = expected_max_curves(study.trials, metric)
        out["marginal_effects"] = marginal_effects(gan if len(gan) >= 2 else study.trials, metric)
    except (UserError, KeyError, ValueError) as exc:
        log.warning("W&B: no sensitivity tables for the study run (%s)", exc)
    return out


def map_images(summary: dict, study: StudyResults, folder: Path, tables: dict[str, pd.DataFrame]) -> dict[str, Path]:
    """The study's collapse maps and trajectories (mgen/analysis/maps.py) for its metric, `collapsed` and `failed`,
    as PNGs in `folder`; none where the study has no GAN trial to map. The sensitivity pictures are drawn from
    `tables` (study_tables'), not computed again."""
    images = {}
    for metric in dict.fromkeys([summary["metric"], "collapsed", "failed"]):
        try:
            images[f"maps/collapse_map_{metric}"] = collapse_map(study, metric, folder)[0]
            images[f"maps/trajectory_{metric}"] = trajectory(study, metric, folder)
        except (UserError, KeyError) as exc:  # a baselines-only study, or a metric no trial reported
            log.warning("W&B: no %s map for the study run (%s)", metric, exc)
    for target in ("collapsed", "chord_adherence", "prev_adherence"):
        if target in study.trials and study.trials[target].notna().any():
            try:
                images[f"maps/boundary_{target}"] = boundary(study, target, folder)[0]
            except (UserError, KeyError) as exc:
                log.warning("W&B: no %s boundary for the study run (%s)", target, exc)
    metric = summary["metric"]
    if not tables.get("expected_best", pd.DataFrame()).empty:
        images["sensitivity/expected_best"] = expected_max_figure(tables["expected_best"], metric, folder / "expected_best.png")
    if not tables.get("marginal_effects", pd.DataFrame()).empty:
        images["sensitivity/marginal_effects"] = marginals_figure(tables["marginal_effects"], metric, folder / "marginals.png")
    return images


def log_study_run(project: str, group: str, mode: str, summary: dict, directory: str | None) -> None:
    """One W&B run for the whole study: the trials, the collapse map and importance tables (with a bar
    chart of the importances), the collapse-map and trajectory images, and the study's counts."""
    import tempfile

    import wandb

    try:  # read once, for the map's table and its figures
        study = load_study(summary["path"])
    except (UserError, OSError) as exc:
        log.warning("W&B: no collapse maps for the study run (%s)", exc)
        study = None
    tables = study_tables(summary, study)
    run = wandb.init(project=project, group=group, name=f"{group} (study)", job_type="study", mode=mode,
                     dir=directory, settings=WANDB_QUIET, config={"metric": summary["metric"], "mode": summary["mode"],
                                                            "versions": summary.get("versions", {})})
    try:
        logged = {name: wandb.Table(dataframe=frame) for name, frame in tables.items() if not frame.empty}
        if "importance" in logged:
            logged["importance_chart"] = wandb.plot.bar(logged["importance"], "param", "importance",
                                                        title=f"fANOVA importance for {summary['metric']}")
        with tempfile.TemporaryDirectory() as folder:
            if study is not None:
                logged.update({key: wandb.Image(str(png)) for key, png in map_images(summary, study, Path(folder), tables).items()})
            if logged:
                run.log(logged)
        run.summary.update({k: summary[k] for k in ("trials", "healthy", "collapsed", "failed", "diverged",
                                                    "errored", "controls_passed")})
        for method in sorted({x["method"] for x in summary.get("references", [])}):
            values = [x["best"] for x in summary["references"] if x["method"] == method and x["best"] == x["best"]]
            if values:  # the baseline's mean best metric over seeds, beside the study's own best
                run.summary[f"reference/{method}_{summary['metric']}"] = sum(values) / len(values)
    finally:
        run.finish()
