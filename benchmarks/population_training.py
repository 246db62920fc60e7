"""Where a population's time goes: training iterations only (no evaluation), one thread, P members as one
batched model against one trial's iterations, side by side in alternating rounds; and the matmul FLOP
rate of each against this core's own (a 1024 x 1024 sgemm).

Run: python benchmarks/population_training.py [--members 16] [--iterations 30] [--rounds 3]
The members are the reference recipe at smoke sizes on bach, seeds 0..P-1, all at D:G 1:1, so the ratio
is the batching's own effect (benchmarks/population.py times whole trials with mixed D/G ratios and
evaluation). FLOPs are torch's FlopCounterMode count (matmuls and convolutions, not elementwise work).
"""
import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mgen.data import load_dataset
from mgen.study.space import MUSIC_BUDGET_OVERRIDES
from mgen.train import TrialConfig
from mgen.train.config import REFERENCE_RECIPE
from mgen.train.members import MEMBERS
from mgen.train.trial import TrialData, build_method

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=16)
parser.add_argument("--iterations", type=int, default=30)
parser.add_argument("--rounds", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(1)

cfgs = [TrialConfig.from_dict({**REFERENCE_RECIPE, **MUSIC_BUDGET_OVERRIDES["smoke"], "data": "bach", "seed": i})
        for i in range(args.members)]
data = TrialData(load_dataset(cfgs[0].data_config()), torch.device("cpu"))
solo = build_method(cfgs[0], data)
rng = torch.Generator().manual_seed(0)
population = MEMBERS["gan"](cfgs, data)
live = torch.ones(args.members, dtype=torch.bool)
cases = {"one trial": (lambda: solo.iteration(rng), 1),
         f"population of {args.members}": (lambda: population.iteration(live.clone()), args.members)}
flops = {}
for name, (step, _) in cases.items():
    for _ in range(3):
        step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    flops[name] = counter.get_total_flops()
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
best = {name: 0.0 for name in cases}
peak = 0.0
for _ in range(args.rounds):
    for name, (step, members) in cases.items():
        start = time.perf_counter()
        for _ in range(args.iterations):
            step()
        best[name] = max(best[name], args.iterations / (time.perf_counter() - start))
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    peak = max(peak, 20 * 2 * 1024 ** 3 / (time.perf_counter() - start))
print(f"one thread, torch {torch.__version__}; sgemm 1024: {peak / 1e9:.1f} GFLOP/s")
for name, (_, members) in cases.items():
    rate = best[name] * flops[name]
    print(f"{name:>18}: {best[name] * members:7.1f} member-iterations/s, {flops[name] / members / 1e6:6.1f} MFLOP "
          f"a member-iteration, {rate / 1e9:5.2f} GFLOP/s ({rate / peak:.0%} of the sgemm)")
ratio = best[f"population of {args.members}"] * args.members / best["one trial"]
print(f"population / one trial: {ratio:.2f}x member-iterations/s")
