"""Every report of a study's trials, a few columns, as one compact CSV (what a findings page rests on).

    python docs/findings/scripts/export_reports.py RESULTS_DIR OUT.csv
"""
import sys

from mgen.results import load_study

COLUMNS = ["step", "train_cpu_seconds", "healthy_coverage", "coverage", "precision", "recall", "diversity",
           "pitch_range", "memorisation", "memorisation_real", "duplicate_rate", "music_overlap", "collapsed", "failed"]

study = load_study(sys.argv[1])
params = study.trials.set_index("trial_id")[["data" if "data" in study.trials else "method", "param/variant", "seed"]]
history = study.history[["trial_id"] + [c for c in COLUMNS if c in study.history]]
out = history.join(params, on="trial_id").rename(columns={"param/variant": "variant"})
out.insert(0, "study", study.uri.rstrip("/").rsplit("/", 1)[-1])
out.round(4).to_csv(sys.argv[2], index=False)
print(f"{len(out)} reports of {out['trial_id'].nunique()} trials -> {sys.argv[2]}")
