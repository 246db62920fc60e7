"""The end of a study: the table of best trials (each healthy, collapsed or failed), the positive
controls' verdict, study.json (written atomically), and a mean +- sd table per group."""
from __future__ import annotations

import json
from pathlib import Path

from mgen.files import package_versions
from mgen.metrics.registry import health_status
from mgen.study.plan import Plan, is_control, reference_method
from mgen.study.storage import write_atomic

SUMMARY_FILE = "study.json"


def summarise(plan: Plan, results) -> dict:
    """The end-of-study table and study.json: best trials, each marked healthy, collapsed or failed at
    its best report; collapsed/failed/diverged counts; a warning when no trial is healthy."""
    metric, mode = plan.study_metric
    rows = []
    for r in results:
        last = r.metrics or {}
        best_ckpt = r.get_best_checkpoint(metric, mode) if r.checkpoint else None
        history = r.metrics_dataframe
        values = history[metric].dropna() if history is not None and metric in history else []
        best, at_best = float("nan"), {}
        if len(values):
            i = values.idxmax() if mode == "max" else values.idxmin()
            best, at_best = float(values[i]), history.loc[i].to_dict()
        flags = at_best or last
        rows.append({"trial_id": last.get("trial_id", r.path.rsplit("/", 1)[-1]), "path": r.path,
                     "best": best, "status": health_status(flags),
                     "last_status": health_status(last) if last else "no report",
                     "diverged": bool(last.get("diverged", 0) >= 1), "error": r.error is not None,
                     "best_checkpoint": best_ckpt.path if best_ckpt else None,
                     "control": is_control(plan.spec, r.config or {}),
                     "reference": reference_method(r.config or {}) if plan.spec.references else None,
                     "params": {k: v for k, v in (r.config or {}).items() if k in plan.space}})
    references = [x for x in rows if x["reference"]]
    rows = [x for x in rows if not x["reference"]]  # the study's own trials: counted, ranked, mapped
    ranked = sorted((x for x in rows if x["best"] == x["best"]), key=lambda x: x["best"], reverse=mode == "max")
    healthy = [x for x in ranked if x["status"] == "healthy"]
    summary = {"name": plan.name, "storage": plan.storage, "path": f"{plan.storage.rstrip('/')}/{plan.name}",
               "metric": metric, "mode": mode, "trials": len(rows),
               # A partition of the trials by their status at the last report (failed outranks collapsed).
               "healthy": len(healthy), "collapsed": sum(x["last_status"] == "collapsed" for x in rows),
               "failed": sum(x["last_status"] == "failed" for x in rows), "diverged": sum(x["diverged"] for x in rows),
               "errored": sum(x["error"] for x in rows), "best": ranked[0] if ranked else None,
               "best_healthy": healthy[0] if healthy else None, "ranked": ranked}
    summary["versions"] = package_versions()
    controls = [x for x in rows if x["control"]]
    summary["controls"] = [{k: x[k] for k in ("trial_id", "status", "best", "params")} for x in controls]
    summary["controls_passed"] = bool(controls) and all(x["status"] == "healthy" for x in controls)
    print(f"\n{plan.spec.name}: {len(rows)} trials: {len(healthy)} healthy at their best report; at the last "
          f"report {summary['collapsed']} collapsed, {summary['failed']} failed to train ({summary['diverged']} "
          f"diverged), {summary['errored']} errored; best by {metric} ({mode}):")
    for x in ranked[:5]:
        params = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in x["params"].items())
        mark = "" if x["status"] == "healthy" else f"  [{x['status'].upper()}]"
        print(f"  {metric}={x['best']:.4f}  {x['trial_id']}  {params}{mark}")
    summary["references"] = reference_summary(references, ranked, metric, mode)
    print(f"results: {summary['path']}")
    if plan.local_storage:
        from mgen.study.checkpoints import disk_per_trial

        sizes = list(disk_per_trial(plan.local_storage / plan.name).values())
        if sizes:
            summary["disk"] = {"trials": len(sizes), "mean_mb": sum(sizes) / len(sizes) / 2**20,
                               "max_mb": max(sizes) / 2**20, "total_mb": sum(sizes) / 2**20,
                               "keep_checkpoints": plan.options.keep_checkpoints}
            kept = (f"the last {plan.options.keep_checkpoints}, the best and the snapshot's checkpoints a trial"
                    if plan.options.keep_checkpoints else "every checkpoint")
            print(f"disk: {summary['disk']['mean_mb']:.1f} MB a trial (at most {summary['disk']['max_mb']:.1f}), "
                  f"{summary['disk']['total_mb']:.0f} MB in all; kept {kept} (--keep-checkpoints)")
    if plan.spec.control:
        if not controls:
            print("positive control: none ran (a fixed setting differs from the reference recipe); "
                  "nothing shows that this study's budget can train a healthy model")
        elif summary["controls_passed"]:
            print(f"positive control (the reference recipe): {len(controls)} of {len(controls)} healthy")
        else:
            bad = [x for x in controls if x["status"] != "healthy"]
            print(f"WARNING: positive control failed: {len(bad)} of {len(controls)} reference-recipe trials "
                  f"were not healthy ({', '.join(x['trial_id'] + ' ' + x['status'] for x in bad)}); "
                  "the map is not evidence of where collapse sets in at this budget")
    if ranked and ranked[0]["status"] != "healthy":
        print(f"warning: the best trial was {ranked[0]['status']} at its best report; "
              + ("no trial was healthy, so this study found no working configuration" if not healthy
                 else f"the best healthy trial is {healthy[0]['trial_id']}"))
    if ranked and ranked[0]["best_checkpoint"]:
        ckpt = ranked[0]["best_checkpoint"]
        print(f"best checkpoint: {ckpt}" + ("" if ranked[0]["status"] == "healthy" else f" ({ranked[0]['status']})"))
        print("next:")
        if (Path(__file__).resolve().parents[2] / "analysis" / "report.py").exists():
            print(f"  python analysis/report.py {summary['path']}")
        print(f"  mgen generate {ckpt}/checkpoint.pt --n 32 --out samples/{plan.name} --wav")
    if plan.spec.table:
        by, metrics = plan.spec.table
        table = group_table(results, by, metrics)
        print(f"\nmean +- sd over seeds of the last report:\n{table.to_string()}")
        summary["table"] = table.reset_index().to_dict(orient="records")
    if plan.local_storage:
        write_atomic(plan.local_storage / plan.name / SUMMARY_FILE, json.dumps(summary, indent=2, default=str))
    return summary


def reference_summary(references: list[dict], ranked: list[dict], metric: str, mode: str) -> list[dict]:
    """Print the reference rows (each method's recipe, same footing and seeds) beside the study's best
    trial, and return them for study.json."""
    if not references:
        return []
    out = [{"trial_id": x["trial_id"], "method": x["reference"], "seed": x["params"].get("seed"),
            "status": x["status"], "best": x["best"], "best_checkpoint": x["best_checkpoint"]} for x in references]
    print(f"reference rows (each method's recipe on the same data, sizes, budget and seeds), {metric} at the best report:")
    for method in sorted({x["method"] for x in out}):
        mine = sorted((x for x in out if x["method"] == method), key=lambda x: str(x["seed"]))
        cells = "  ".join(f"s{x['seed']} {x['best']:.4f}" + ("" if x["status"] == "healthy" else f" [{x['status'].upper()}]")
                          for x in mine)
        print(f"  {method.upper():5s} {cells}")
    scored = [x for x in out if x["best"] == x["best"]]
    if ranked and scored:
        best_ref = (max if mode == "max" else min)(scored, key=lambda x: x["best"])
        ahead = (ranked[0]["best"] > best_ref["best"]) if mode == "max" else (ranked[0]["best"] < best_ref["best"])
        print(f"  best trial of this study {ranked[0]['best']:.4f} vs best reference {best_ref['best']:.4f} "
              f"({best_ref['method'].upper()} s{best_ref['seed']}): "
              + ("the study's best is ahead" if ahead else f"no trial of this study beats {best_ref['method'].upper()}"))
    return out


def group_table(results, by: list[str], metrics: list[str]):
    """Mean +- sd of each metric's last reported value, per group of trial params (e.g. data, variant)."""
    import pandas as pd

    rows = []
    for r in results:
        if r.metrics:
            config = r.config or {}
            rows.append({**{k: config.get(k) for k in by}, **{m: r.metrics.get(m) for m in metrics}})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    grouped = frame.groupby(by)[metrics]
    mean, sd, n = grouped.mean(), grouped.std(ddof=1).fillna(0.0), grouped.size()
    table = mean.round(3).astype(str) + " +- " + sd.round(3).astype(str)
    table["trials"] = n
    return table
