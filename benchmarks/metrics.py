"""mgen's k-NN metrics (precision, recall, density, coverage) against Naeem et al.'s reference `prdc`
package on the same bars: equal results asserted, times and the ratio printed.

Run: python benchmarks/metrics.py [--n 10000] [--threads 2]
Data: N real and N generated stand-ins, drawn (with replacement, seed 0) from the celtic corpus's bars,
flattened 16 x 128 piano rolls (0/1), the space of `roll_coverage`; both sides run in this process,
one after the other, with the same thread count.
"""
import argparse
import time

import numpy as np
import torch

from mgen.data import DataConfig, load_dataset
from mgen.metrics.knn import prdc

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=10000)
parser.add_argument("--k", type=int, default=5)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)
from threadpoolctl import threadpool_limits  # noqa: E402  (numpy's BLAS, which the reference uses)

from prdc import compute_prdc  # noqa: E402

bars = load_dataset(DataConfig("celtic")).x
rng = np.random.default_rng(0)
real = bars[rng.integers(len(bars), size=args.n)].reshape(args.n, -1).astype(np.float32)
fake = bars[rng.integers(len(bars), size=args.n)].reshape(args.n, -1).astype(np.float32)
with threadpool_limits(args.threads):
    start = time.perf_counter()
    ref = compute_prdc(real, fake, nearest_k=args.k)
    t_ref = time.perf_counter() - start
    start = time.perf_counter()
    ours = prdc(real, fake, k=args.k)
    t_ours = time.perf_counter() - start
for name in ("precision", "recall", "density", "coverage"):
    assert abs(ours[name] - float(ref[name])) < 1e-6, (name, ours[name], float(ref[name]))
print(f"k-NN metrics on {args.n} x {args.n} bars (2048-d rolls), k={args.k}, {args.threads} threads: "
      f"reference prdc {t_ref:.1f} s, mgen {t_ours:.1f} s, ratio {t_ref / t_ours:.1f}x; results equal "
      + str({k: round(v, 4) for k, v in ours.items()}))
