"""Populations vs one trial after another: trials per hour of P GAN configs trained as one batched model
(mgen.train.population) against the same P configs trained alone (mgen.train.train), in one run.

Run: python benchmarks/population.py [--members 1,4,16,64] [--steps 200] [--eval-every 100] [--device cpu]
The configs are the gan_collapse study's: smoke sizes on bach, the reference recipe with D/G ratios,
learning rates and seeds drawn from the study's space. Both sides evaluate at the same steps with the
same metrics (evaluation is part of a trial's cost). On a CPU both get all the machine's cores: the
population one process with that many threads; the trials alone as a study runs them, one process per
core, one thread each, side by side. On a GPU both run on it, the trials one after another.
"""
import argparse
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from mgen.data import load_dataset
from mgen.study.space import DG_RATIOS, MUSIC_BUDGET_OVERRIDES
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


def configs(n: int) -> list[TrialConfig]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        d, g = (int(x) for x in rng.choice(DG_RATIOS).split(":"))
        out.append(TrialConfig.from_dict({
            **REFERENCE_RECIPE, **MUSIC_BUDGET_OVERRIDES["smoke"], "data": "bach", "device": args.device,
            "steps": args.steps, "eval_every": args.eval_every, "seed": i, "d_steps": d, "g_steps": g,
            "lr_d": 10 ** rng.uniform(-4, -2.6), "lr_g": 10 ** rng.uniform(-3.7, -2.3)}))
    return out


def alone(cfg: TrialConfig) -> float:
    torch.set_num_threads(1 if cfg.device == "cpu" else torch.get_num_threads())
    start = time.perf_counter()
    for _ in train(cfg, load_dataset(cfg.data_config())):
        pass
    return time.perf_counter() - start


def one_after_another(cfgs: list[TrialConfig]) -> float:
    start = time.perf_counter()
    if args.device == "cpu":  # as a study on this machine: a trial a core, one thread each
        with ProcessPoolExecutor(args.cores) as pool:
            list(pool.map(alone, cfgs))
    else:
        for cfg in cfgs:
            alone(cfg)
    return time.perf_counter() - start


def together(cfgs: list[TrialConfig]) -> float:
    torch.set_num_threads(args.cores if args.device == "cpu" else torch.get_num_threads())
    start = time.perf_counter()
    for _ in Population(cfgs, load_dataset(cfgs[0].data_config())).run():
        pass
    return time.perf_counter() - start


load_dataset(configs(1)[0].data_config())  # build or load the cache before timing
device = torch.cuda.get_device_name() if args.device != "cpu" else f"CPU, {args.cores} cores"
print(f"{device}; {args.steps} iterations a trial, evaluated every {args.eval_every}; torch {torch.__version__}")
print(f"{'P':>4} {'alone s':>9} {'population s':>13} {'trials/h alone':>15} {'trials/h population':>20} {'ratio':>6}")
for p in map(int, args.members.split(",")):
    cfgs = configs(p)
    a, b = one_after_another(cfgs), together(cfgs)
    print(f"{p:4d} {a:9.1f} {b:13.1f} {3600 * p / a:15.0f} {3600 * p / b:20.0f} {a / b:6.2f}", flush=True)
