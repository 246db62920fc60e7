"""Populations vs trials alone: trials per hour of GAN configs trained P at a time as one batched model
(mgen.train.population) against the same configs trained alone (mgen.train.train), in one run.

Run: python benchmarks/population.py [--members 1,4,16,64] [--steps 200] [--eval-every 100] [--device cpu]
The configs are the gan_collapse study's: smoke sizes on bach, the reference recipe with learning rates
and seeds drawn from the study's space, and a D/G ratio drawn from it for each row (a study's broker
groups members of one schedule, mgen/study/population.py; one ratio a row keeps the cores evenly loaded). Both
sides evaluate at the same steps with the same metrics (evaluation is part of a trial's cost).
On a CPU both sides get all the machine's cores, as a study uses them: the trials alone one process a
core, one thread each; the populations one a core, one thread each (a population holds one trial's
CPUs), so each core trains P members and the run times `cores` x P trials a side. On a GPU both run on
it: one population of P against its P trials one after another.
"""
import argparse
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from mgen.data import load_dataset
from mgen.study.space import MUSIC_BUDGET_OVERRIDES
from mgen.train.params import DG_RATIOS
from mgen.train import TrialConfig, train
from mgen.train.config import REFERENCE_RECIPE
from mgen.train.population import Population

parser = argparse.ArgumentParser()
parser.add_argument("--members", default="1,4,16,64")
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--eval-every", type=int, default=100)
parser.add_argument("--device", default="cpu")
parser.add_argument("--cores", type=int, default=os.cpu_count())
args = parser.parse_args()
cpu = args.device == "cpu"


def populations(n: int, size: int) -> list[list[TrialConfig]]:
    """n populations of `size` configs, all of one D/G ratio."""
    rng = random.Random(size)
    d, g = (int(x) for x in rng.choice(DG_RATIOS).split(":"))
    out = []
    for k in range(n):
        out.append([TrialConfig.from_dict({
            **REFERENCE_RECIPE, **MUSIC_BUDGET_OVERRIDES["smoke"], "data": "bach", "device": args.device,
            "steps": args.steps, "eval_every": args.eval_every, "seed": k * size + i, "d_steps": d, "g_steps": g,
            "lr_d": 10 ** rng.uniform(-4, -2.6), "lr_g": 10 ** rng.uniform(-3.7, -2.3)}) for i in range(size)])
    return out


def threads() -> None:
    if cpu:  # one thread a process, as a study runs trials and populations on CPUs
        torch.set_num_threads(1)


def alone(cfg: TrialConfig) -> None:
    threads()
    for _ in train(cfg, load_dataset(cfg.data_config())):
        pass


def together(cfgs: list[TrialConfig]) -> None:
    threads()
    for _ in Population(cfgs, load_dataset(cfgs[0].data_config())).run():
        pass


def timed(fn, jobs: list) -> float:
    """Seconds to run fn on every job: on a CPU a process a core, else one after another."""
    start = time.perf_counter()
    if cpu:
        with ProcessPoolExecutor(args.cores) as pool:
            list(pool.map(fn, jobs))
    else:
        for job in jobs:
            fn(job)
    return time.perf_counter() - start


load_dataset(populations(1, 1)[0][0].data_config())  # build or load the cache before timing
device = torch.cuda.get_device_name() if not cpu else f"CPU, {args.cores} cores, one thread a process"
print(f"{device}; {args.steps} iterations a trial, evaluated every {args.eval_every}; torch {torch.__version__}")
print(f"{'P':>4} {'trials':>6} {'D:G':>4} {'alone s':>9} {'populations s':>14} {'trials/h alone':>15} "
      f"{'trials/h populations':>21} {'ratio':>6}")
for p in map(int, args.members.split(",")):
    groups = populations(args.cores if cpu else 1, p)
    cfgs = [c for g in groups for c in g]
    ratio = f"{groups[0][0].d_steps}:{groups[0][0].g_steps}"
    a, b = timed(alone, cfgs), timed(together, groups)
    print(f"{p:4d} {len(cfgs):6d} {ratio:>4} {a:9.1f} {b:14.1f} {3600 * len(cfgs) / a:15.0f} "
          f"{3600 * len(cfgs) / b:21.0f} {a / b:6.2f}", flush=True)
