"""The atlas's numbers for its findings page: a compact CSV of the trials and Markdown tables (printed).

    python docs/findings/scripts/atlas.py RESULTS_DIR OUT.csv [--boot 30]

Tables: the positive controls' verdicts; the VAE and IMLE rows beside the GAN's; GAN trials by D/G ratio
(collapsed, failed, healthy as k of n with Jeffreys 95% intervals; mean healthy_coverage with a bootstrap 95%
interval); by ratio x learning-rate ratio and by ratio x lr_g; by conditioning (adherence) and D's
normalisation; fANOVA importances with bootstrap intervals; the expected best healthy_coverage against trials
run (Tang et al.'s unbiased estimator), per method and per ratio. The controls are left out of the GAN tables
(they repeat one point).
"""
import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mgen.analysis.maps import jeffreys
from mgen.analysis.results import load_study
from mgen.analysis.sensitivity import expected_max, importance_intervals

COLUMNS = ["trial_id", "method", "dg_ratio", "lr_d", "lr_g", "log10_lr_ratio", "d_norm", "conditioning", "seed", "step",
           "train_cpu_seconds", "time_total_s", "healthy_coverage", "coverage", "precision", "density", "diversity",
           "frechet_distance", "collapsed", "failed", "diverged", "chord_adherence", "prev_adherence", "control"]
RATIOS = ["5:1", "2:1", "1:1", "1:2", "1:5"]
METRIC = "healthy_coverage"


def share(flags: pd.Series) -> str:
    k, n = int((flags >= 1).sum()), len(flags)
    if n == 0:
        return ""
    _, low, high = jeffreys(k, n)
    return f"{k}/{n} [{low:.2f}, {high:.2f}]"


def mean_ci(values: pd.Series, n_boot: int = 2000, seed: int = 0) -> str:
    v = values.dropna().to_numpy(dtype=float)
    if len(v) == 0:
        return ""
    means = np.random.default_rng(seed).choice(v, (n_boot, len(v)), replace=True).mean(axis=1)
    return f"{v.mean():.3f} [{np.percentile(means, 2.5):.3f}, {np.percentile(means, 97.5):.3f}]"


def grouped(frame: pd.DataFrame, by: list[str], order=None) -> pd.DataFrame:
    rows = []
    for key, g in frame.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "trials": len(g), "collapsed": share(g["collapsed"]),
                     "failed": share(g["failed"]), "healthy": share(1 - np.maximum(g["collapsed"], g["failed"])),
                     f"mean {METRIC}": mean_ci(g[METRIC])})
    out = pd.DataFrame(rows)
    if order is not None:
        out["_o"] = out[by[0]].map({v: i for i, v in enumerate(order)})
        out = out.sort_values(["_o"] + by[1:]).drop(columns="_o")
    return out


def lr_band(log10_ratio: float) -> str:
    return "D slower (lr_d/lr_g < 0.5)" if log10_ratio < -0.3 else ("D faster (> 2)" if log10_ratio > 0.3 else "about equal")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("csv")
    p.add_argument("--boot", type=int, default=30)
    args = p.parse_args()
    study = load_study(args.results)
    t = study.trials.copy()
    summary = json.loads((Path(args.results) / "study.json").read_text()) if (Path(args.results) / "study.json").exists() else {}
    controls = {c["trial_id"] for c in summary.get("controls", [])}
    t["control"] = t["trial_id"].isin(controls)
    t[[c for c in COLUMNS if c in t]].to_csv(args.csv, index=False, float_format="%.6g")  # learning rates keep their digits
    print(f"{len(t)} trials ({(t['method'] == 'gan').sum()} GAN, {len(controls)} of them controls); "
          f"diverged {int(t['diverged'].fillna(0).sum())}; study.json: "
          f"{ {k: summary.get(k) for k in ('trials', 'errored', 'controls_passed', 'disk')} }")

    print("\n## Controls\n")
    print(pd.DataFrame(summary.get("controls", [])).to_markdown(index=False))

    print("\n## Methods (GAN: the searched trials, controls apart)\n")
    t["row"] = np.where(t["control"], "gan control (recipe, 1:1)", t["method"])
    print(grouped(t, ["row"]).to_markdown(index=False))
    gan = t[(t["method"] == "gan") & ~t["control"]].copy()
    best = gan.sort_values(METRIC, ascending=False).head(5)
    print("\nBest five GAN trials:\n")
    print(best[["dg_ratio", "lr_d", "lr_g", "d_norm", "conditioning", "seed", METRIC, "coverage", "precision"]]
          .to_markdown(index=False, floatfmt=".4g"))

    print("\n## GAN by D/G ratio\n")
    print(grouped(gan, ["dg_ratio"], RATIOS).to_markdown(index=False))
    gan["lr band"] = gan["log10_lr_ratio"].map(lr_band)
    print("\n## GAN by D/G ratio x learning-rate ratio\n")
    print(grouped(gan, ["dg_ratio", "lr band"], RATIOS).to_markdown(index=False))
    gan["lr_g band"] = np.where(gan["lr_g"] >= 1e-3, "lr_g >= 1e-3", "lr_g < 1e-3")
    print("\n## GAN by D/G ratio x lr_g\n")
    print(grouped(gan, ["dg_ratio", "lr_g band"], RATIOS).to_markdown(index=False))
    print("\n## GAN by conditioning and by D's normalisation\n")
    print(grouped(gan, ["conditioning"]).to_markdown(index=False))
    print()
    print(grouped(gan, ["d_norm"]).to_markdown(index=False))
    print()
    print(grouped(gan, ["d_norm", "dg_ratio"]).to_markdown(index=False))
    print("\n## Adherence (conditioned GAN trials; real data's own in the last columns)\n")
    rows = []
    for (cond, ratio), g in gan[gan["conditioning"] != "none"].groupby(["conditioning", "dg_ratio"]):
        rows.append({"conditioning": cond, "dg_ratio": ratio, "trials": len(g),
                     "chord_adherence": mean_ci(g["chord_adherence"]), "prev_adherence": mean_ci(g["prev_adherence"])})
    print(pd.DataFrame(rows).to_markdown(index=False))

    print(f"\n## fANOVA importance for {METRIC} (GAN trials, {args.boot} bootstrap refits)\n")
    print(importance_intervals(gan, METRIC, n_boot=args.boot).to_markdown(floatfmt=".3f"))
    gan["collapsed_flag"] = gan["collapsed"].astype(float)
    print(f"\n## fANOVA importance for collapsed (GAN trials, {args.boot} bootstrap refits)\n")
    print(importance_intervals(gan, "collapsed_flag", n_boot=args.boot, mode="min").to_markdown(floatfmt=".3f"))

    print(f"\n## Expected best {METRIC} against trials run (95% bootstrap band)\n")
    rows = []
    groups = [(m, g) for m, g in t[~t["control"]].groupby("method")] + [(f"gan {r}", gan[gan["dg_ratio"] == r]) for r in RATIOS]
    for label, g in groups:
        values = g[METRIC].dropna().to_numpy(dtype=float)
        if len(values) == 0:
            continue
        n, mean, low, high = expected_max(values)
        rows.append({"group": label, "trials": len(values),
                     **{f"n={k}": f"{mean[k - 1]:.3f} [{low[k - 1]:.3f}, {high[k - 1]:.3f}]" for k in (1, 3, 5, 10, 20) if k <= len(values)}})
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
