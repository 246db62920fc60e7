"""Training iterations per second of each method at the default sizes, and parameter counts.

Run: python benchmarks/train_throughput.py [--threads 2] [--iters 30]
Ratios between methods are measured in one run, side by side.
"""
import argparse
import time

import torch

from mgen.data import load_dataset
from mgen.train import TrialConfig
from mgen.train.trial import TrialData, build_method

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--iters", type=int, default=30)
parser.add_argument("--device", default="cpu")
args = parser.parse_args()
torch.set_num_threads(args.threads)
cases = [("gan", "bach", "none"), ("gan", "bach", "prev+chord"), ("vae", "bach", "prev+chord"),
         ("imle", "bach", "prev+chord"), ("gan", "ring", "none")]
rates = {}
for method, data, cond in cases:
    cfg = TrialConfig(method=method, data=data, cond=cond, inject="2d" if cond != "none" else "1d", device=args.device)
    d = TrialData(load_dataset(cfg.data_config()), torch.device(args.device))
    m = build_method(cfg, d)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        m.iteration(g)
    if args.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.iters):
        m.iteration(g)
    if args.device == "cuda":
        torch.cuda.synchronize()
    rate = args.iters / (time.perf_counter() - start)
    params = {k: sum(p.numel() for p in net.parameters()) for k, net in m.modules().items()}
    rates[(method, data, cond)] = rate
    print(f"{method:5s} {data:5s} cond={cond:11s} {rate:7.1f} it/s  params " +
          ", ".join(f"{k}={v:,}" for k, v in params.items()), flush=True)
base = rates[("gan", "bach", "none")]
print("ratios to gan/bach/none:", {"/".join(k): round(v / base, 2) for k, v in rates.items()})
