"""Where a population's time goes: training iterations only (no evaluation), one thread, P members as one
batched model against one trial's iterations, side by side in alternating rounds; the matmul FLOP rate of
each against this core's own (a 1024 x 1024 sgemm); and, from the same timings at several batch sizes, the
most a population could gain over trials alone with these networks and torch's CPU kernels.

Run: python benchmarks/population_training.py [--members 16] [--iterations 30] [--rounds 3] [--batches 2,8,32]
The members are the reference recipe at smoke sizes on bach, seeds 0..P-1, all at D:G 1:1, so the ratio
is the batching's own effect (benchmarks/population.py times whole trials with mixed D/G ratios and
evaluation). FLOPs are torch's FlopCounterMode count of matmuls and forward convolutions, not elementwise
work, nor convolution backward: torch 2.13 counts a grouped convolution's backward as if it had one group
(1,478 MFLOP for the 3 MFLOP of a trial's interval correlations, mgen.models.midinet.interval_distribution).

The ceiling: a member-iteration's time is t(B) = fixed + B x per-example (least squares over --batches;
fixed is what does not grow with the batch: per-op dispatch, the optimisers' and spectral norm's work on
the parameters). A population can at best remove a trial's fixed part, so the ratio at the study's batch B
cannot exceed t_alone(B) / (B x the cheaper of the two per-example costs): on some machines batching made
the per-example work cheaper (0.5x a trial's), on others not (1.1x). The fit needs quiet timings: with
noisy ones (a slope at or below zero) it says so instead of printing a bound; raise --rounds.
"""
import argparse
import dataclasses
import time

import numpy as np
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
parser.add_argument("--batches", default="2,8,32", help="batch sizes for the ceiling (the study's last)")
args = parser.parse_args()
torch.set_num_threads(1)

base = [TrialConfig.from_dict({**REFERENCE_RECIPE, **MUSIC_BUDGET_OVERRIDES["smoke"], "data": "bach", "seed": i})
        for i in range(args.members)]
data = TrialData(load_dataset(base[0].data_config()), torch.device("cpu"))
population_name = f"population of {args.members}"
COUNTED = ("mm", "bmm", "addmm", "baddbmm", "convolution")


def cases(batch: int) -> dict:
    """name -> (one training iteration, members it advances) at this batch size."""
    cfgs = [dataclasses.replace(c, batch_size=batch) for c in base]
    solo, rng = build_method(cfgs[0], data), torch.Generator().manual_seed(0)
    population, live = MEMBERS["gan"](cfgs, data), torch.ones(args.members, dtype=torch.bool)
    out = {"one trial": (lambda: solo.iteration(rng), 1),
           population_name: (lambda: population.iteration(live.clone()), args.members)}
    for step, _ in out.values():
        for _ in range(3):
            step()  # warm-up
    return out


def member_seconds(steps: dict) -> dict[str, float]:
    """Best of the rounds, alternating the cases: seconds a member-iteration."""
    best = {name: float("inf") for name in steps}
    for _ in range(args.rounds):
        for name, (step, members) in steps.items():
            start = time.perf_counter()
            for _ in range(args.iterations):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / args.iterations / members)
    return best


batches = [int(b) for b in args.batches.split(",")]
study_batch = base[0].batch_size
if study_batch not in batches:
    batches.append(study_batch)
timings = {}
for batch in batches:
    steps = cases(batch)
    if batch == study_batch:
        flops = {}
        for name, (step, _) in steps.items():
            with FlopCounterMode(display=False) as counter:
                step()
            flops[name] = sum(n for op, n in counter.get_flop_counts()["Global"].items()
                              if str(op).split(".")[1] in COUNTED)
    timings[batch] = member_seconds(steps)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
peak = 0.0
for _ in range(args.rounds):
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    peak = max(peak, 20 * 2 * 1024 ** 3 / (time.perf_counter() - start))
print(f"one thread, torch {torch.__version__}; sgemm 1024: {peak / 1e9:.1f} GFLOP/s; batch {study_batch} (the study's)")
best = timings[study_batch]
for name in best:
    members = 1 if name == "one trial" else args.members
    rate = flops[name] / members / best[name]
    print(f"{name:>18}: {1 / best[name]:7.1f} member-iterations/s, {flops[name] / members / 1e6:6.1f} MFLOP "
          f"a member-iteration, {rate / 1e9:5.2f} GFLOP/s ({rate / peak:.0%} of the sgemm)")
print(f"population / one trial: {best['one trial'] / best[population_name]:.2f}x member-iterations/s")
print(f"\nms a member-iteration by batch size ({args.batches}):")
fits = {}
for name in best:
    ms = np.array([timings[b][name] * 1e3 for b in batches])
    per_example, fixed = np.polyfit(batches, ms, 1)
    fits[name] = (fixed, per_example)
    print(f"{name:>18}: " + ", ".join(f"B={b} {t:.2f}" for b, t in zip(batches, ms))
          + f"; fit {fixed:.2f} fixed + {per_example:.3f} an example")
alone_fixed, alone_per = fits["one trial"]
alone = alone_fixed + alone_per * study_batch
own_per = fits[population_name][1]
if min(own_per, alone_per) <= 0:
    raise SystemExit(f"ceiling: not estimated, the timings were too noisy for the fit (per-example {alone_per:.3f} ms "
                     f"alone, {own_per:.3f} in the population); rerun with more --rounds on a quieter machine")
# The bound takes the cheaper per-example cost: batching made it cheaper on some machines, dearer on others.
print(f"ceiling at B={study_batch}: a population with no fixed cost would run "
      f"{alone / (min(own_per, alone_per) * study_batch):.2f}x the member-iterations of trials alone "
      f"(at its own per-example cost, {own_per / alone_per:.2f}x a trial's: {alone / (own_per * study_batch):.2f}x; "
      f"at a trial's: {alone / (alone_per * study_batch):.2f}x)")
