"""Time and peak memory of `evaluate` on 10,000 generated x 10,000 real bars (Bach, real data).

Run: python benchmarks/metrics_10k.py [--n 10000]
"""
import argparse
import resource
import time

import numpy as np
import torch

from mgen.data import DataConfig, load_dataset
from mgen.metrics import evaluate

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=10000)
args = parser.parse_args()
torch.set_num_threads(2)
bars = load_dataset(DataConfig("celtic")).x  # ~14k bars: enough for two disjoint-ish samples
rng = np.random.default_rng(0)
real = bars[rng.integers(len(bars), size=args.n)]
fake = bars[rng.integers(len(bars), size=args.n)]
start = time.perf_counter()
metrics = evaluate(fake, real, same_condition=fake[:100].reshape(10, 10, 16, 128))
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"evaluate {args.n} x {args.n} bars: {elapsed:.1f} s, peak RSS {peak:.0f} MiB, {len(metrics)} metrics")
print({k: round(metrics[k], 3) for k in ("precision", "recall", "density", "coverage", "ndb", "music_overlap")})
