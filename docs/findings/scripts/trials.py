"""Run trials one after another, one thread each, from a JSON list of TrialConfig dicts (a "tag" key names
each); append each trial's reports to OUT (JSON lines). PART NPARTS runs every NPARTS-th config from PART.

    python docs/findings/scripts/trials.py CONFIGS.json OUT.jsonl [PART NPARTS]
"""
import json, sys, time, os
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch
torch.set_num_threads(1)
from mgen.data import load_dataset
from mgen.train.config import TrialConfig
from mgen.train.trial import train

cfgs = json.load(open(sys.argv[1])); out = sys.argv[2]
part, nparts = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (0, 1)
KEYS = ["coverage", "precision", "recall", "diversity", "pitch_range", "collapsed", "failed", "modes_captured",
        "music_overlap", "notes_per_bar", "scale_consistency", "frechet_distance", "duplicate_rate", "memorisation", "diverged",
        "chord_adherence", "prev_adherence", "ctnctr", "ctnctr_gain", "ctnctr_gain_real", "tonal_distance_gain",
        "tonal_distance_gain_real", "bar_line_step", "bar_line_step_gain", "bar_line_step_gain_real",
        "groove_similarity_gain", "groove_similarity_gain_real"]
for i, c in enumerate(cfgs):
    if i % nparts != part: continue
    tag = c.pop("tag", str(i))
    cfg = TrialConfig.from_dict(c)
    ds = load_dataset(cfg.data_config())
    t = time.time(); hist = []
    for r in train(cfg, ds):
        hist.append({k: round(r.metrics[k], 4) for k in ["step"] + KEYS if k in r.metrics})
    rec = {"tag": tag, "config": c, "secs": round(time.time() - t, 1), "last": hist[-1], "history": hist}
    with open(out, "a") as f: f.write(json.dumps(rec) + "\n")
    print(tag, rec["secs"], hist[-1], flush=True)
