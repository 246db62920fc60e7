"""Train conditional GANs one after another (one thread each) and measure where the condition is lost.

    python docs/findings/scripts/conditioning.py CONFIGS.json OUT.jsonl [PART NPARTS]

CONFIGS.json: a list of TrialConfig dicts (a "tag" key names each). For each trial, beside its last
report's metrics (adherence included), with the final networks on held-out bars:
- d_gap: does D see the condition? D's mean decision logit on real bars under their own conditions minus
  under their neighbours' (rolled by one); 0 = D ignores the condition.
- g_effect: does G use it? The mean change of G's output when the condition changes (z fixed), over the
  mean change when z changes (condition fixed); 0 = G ignores the condition.
"""
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch

torch.set_num_threads(1)
from mgen.data import load_dataset  # noqa: E402
from mgen.train.config import TrialConfig  # noqa: E402
from mgen.train.trial import TrialData, build_method, train  # noqa: E402

KEYS = ["coverage", "precision", "diversity", "pitch_range", "collapsed", "failed", "music_overlap", "memorisation",
        "chord_adherence", "prev_adherence", "ctnctr", "ctnctr_gain", "ctnctr_gain_real", "tonal_distance_gain",
        "tonal_distance_gain_real", "bar_line_step", "bar_line_step_gain", "bar_line_step_gain_real",
        "groove_similarity_gain", "groove_similarity_gain_real", "prev_copy_rate", "prev_copy_rate_real", "diverged"]


@torch.no_grad()
def probes(cfg, ds, state, n=512):
    data = TrialData(ds, torch.device("cpu"))
    method = build_method(cfg, data)
    for k, m in method.modules().items():
        m.load_state_dict(state["models"][k])
        m.eval()
    g = torch.Generator().manual_seed(7)
    idx = torch.randperm(len(data.heldout), generator=g)[:n]
    prev, chord = data.conditions(idx, heldout=True)
    real = torch.tensor(data.heldout.x[idx.numpy()], dtype=torch.float32)[:, None]
    roll = lambda c: None if c is None else c.roll(1, 0)  # noqa: E731
    out = {}
    if "D" in method.modules():
        D = method.modules()["D"]
        dec = lambda o: o[:, 0] if o.dim() == 2 else o  # noqa: E731
        out["d_gap"] = float((dec(D(real, prev, chord)) - dec(D(real, roll(prev), roll(chord)))).mean())
    z, z2 = data.noise(n, method.z_dim, g), data.noise(n, method.z_dim, g)
    base = method.sample(z, prev, chord)
    by_cond = (method.sample(z, roll(prev), roll(chord)) - base).abs().mean()
    by_z = (method.sample(z2, prev, chord) - base).abs().mean()
    out["g_effect"] = float(by_cond / by_z)
    return out


cfgs = json.load(open(sys.argv[1]))
out_path = sys.argv[2]
part, nparts = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (0, 1)
for i, c in enumerate(cfgs):
    if i % nparts != part:
        continue
    tag = c.pop("tag", str(i))
    cfg = TrialConfig.from_dict(c)
    ds = load_dataset(cfg.data_config())
    start, hist, last = time.time(), [], None
    for r in train(cfg, ds):
        hist.append({k: round(r.metrics[k], 4) for k in ["step"] + KEYS if k in r.metrics})
        last = r.checkpoint or last
    rec = {"tag": tag, "config": c, "secs": round(time.time() - start, 1), "last": hist[-1], "history": hist}
    if last is not None and hist[-1].get("diverged", 0) == 0:
        rec["probes"] = probes(cfg, ds, last)
    with open(out_path, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(tag, rec["secs"], rec.get("probes"), {k: rec["last"].get(k) for k in ("coverage", "chord_adherence", "prev_adherence")},
          flush=True)
