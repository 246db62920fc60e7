"""What mgen and Ray Tune cost a trial: the same GAN trial as (a) a bare loop of its training iterations,
(b) `mgen.train.train` (with the budget's evaluations) and (c) a Ray Tune trial with W&B offline;
steps/s of each and the ratios b/a and c/a, at the smoke and small budgets' sizes and evaluation
intervals, measured one after another in one run.

Run: python benchmarks/overhead.py [--budgets smoke,small] [--steps 2000,3000]
One thread a trial (a Tune trial gets --cpus-per-trial 1 and sets torch to one thread; a and b do the
same). (c) is the trial's own time as Tune reports it (`time_total_s`: building the model and the data
view, every iteration, evaluation, checkpoint and report), not Ray's start-up, which a study pays once.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mgen.data import load_dataset
from mgen.study import Budget, Choice, StudySpec
from mgen.studies import run_study
from mgen.study.space import MUSIC_BUDGET_OVERRIDES
from mgen.train import TrialConfig, train
from mgen.train.config import REFERENCE_RECIPE
from mgen.train.trial import TrialData, build_method

parser = argparse.ArgumentParser()
parser.add_argument("--budgets", default="smoke,small")
parser.add_argument("--steps", default="2000,3000", help="iterations per budget (whole evaluation intervals)")
args = parser.parse_args()
torch.set_num_threads(1)
recipe = {k: v for k, v in REFERENCE_RECIPE.items() if k not in ("d_steps", "g_steps")}


def bare(cfg: TrialConfig) -> float:
    data = TrialData(load_dataset(cfg.data_config()), torch.device("cpu"))
    torch.manual_seed(cfg.seed)
    method, g = build_method(cfg, data), torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    for _ in range(cfg.steps):
        method.iteration(g)
    return cfg.steps / (time.perf_counter() - start)


def with_mgen(cfg: TrialConfig) -> float:
    ds = load_dataset(cfg.data_config())
    start = time.perf_counter()
    for _ in train(cfg, ds):
        pass
    return cfg.steps / (time.perf_counter() - start)


def with_tune(overrides: dict, steps: int) -> float:
    spec = StudySpec(name="overhead", description="one trial, for benchmarks/overhead.py",
                     space={"seed": Choice((0,))}, budgets={"b": Budget({**overrides, "steps": steps}, num_samples=1)},
                     fixed={**recipe}, default_data="bach")
    with tempfile.TemporaryDirectory() as results:
        run_study(spec, ["--budget", "b", "--storage", results, "--name", "o", "--search", "grid", "--num-cpus", "1",
                         "--cpus-per-trial", "1", "--no-collapse-stop"])
        (trial,) = Path(results, "o").glob("trainable_*")
        last = json.loads((trial / "result.json").read_text().splitlines()[-1])
    return steps / last["time_total_s"]


rows = []
for budget, steps in zip(args.budgets.split(","), map(int, args.steps.split(","))):
    overrides = {k: v for k, v in MUSIC_BUDGET_OVERRIDES[budget].items() if k != "steps"}
    cfg = TrialConfig.from_dict({**recipe, **overrides, "steps": steps})
    a, b, c = bare(cfg), with_mgen(cfg), with_tune(overrides, steps)
    rows.append((budget, steps, cfg.eval_every, a, b, c))
print(f"\n{'budget':7} {'steps':>6} {'eval every':>10} {'a bare':>8} {'b mgen':>8} {'c Tune':>8} {'b/a':>5} {'c/a':>5}  (steps/s)")
for budget, steps, every, a, b, c in rows:
    print(f"{budget:7} {steps:6d} {every:10d} {a:8.1f} {b:8.1f} {c:8.1f} {b / a:5.2f} {c / a:5.2f}")
