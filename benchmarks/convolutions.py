"""MidiNet's convolutions as einsums (mgen.models.midinet.Conv2d / ConvTranspose2d) against torch's own
convolutions with the same parameters: iterations/s of the reference-recipe GAN on bach, one thread, at
the smoke sizes (width 32, batch 32) and the default sizes (width 128, batch 64), measured alternately
in one run.

Run: python benchmarks/convolutions.py [--iters 200,40] [--rounds 2] [--device cpu]
"""
import argparse
import time

import torch
from torch import nn

from mgen.data import load_dataset
from mgen.models import midinet
from mgen.study.space import MUSIC_BUDGET_OVERRIDES
from mgen.train import TrialConfig
from mgen.train.config import REFERENCE_RECIPE
from mgen.train.trial import TrialData, build_method

parser = argparse.ArgumentParser()
parser.add_argument("--iters", default="200,40", help="timed iterations at the smoke and default sizes")
parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two forms")
parser.add_argument("--device", default="cpu")
args = parser.parse_args()
torch.set_num_threads(1)
sizes = {"smoke": {k: v for k, v in MUSIC_BUDGET_OVERRIDES["smoke"].items() if k not in ("steps", "eval_every")},
         "default": {}}


def rate(cfg: TrialConfig, form: str, iters: int) -> float:
    torch.manual_seed(0)
    data = TrialData(load_dataset(cfg.data_config()), torch.device(args.device))
    method, g = build_method(cfg, data), torch.Generator().manual_seed(0)
    if form == "torch":  # the same modules, computed by torch's convolutions
        for module in method.modules().values():
            for m in module.modules():
                if isinstance(m, midinet.Conv2d):
                    m.forward = nn.Conv2d.forward.__get__(m)
                elif isinstance(m, midinet.ConvTranspose2d):
                    m.forward = nn.ConvTranspose2d.forward.__get__(m)
    for _ in range(5):
        method.iteration(g)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        method.iteration(g)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return iters / (time.perf_counter() - start)


for (name, overrides), iters in zip(sizes.items(), map(int, args.iters.split(","))):
    cfg = TrialConfig.from_dict({**REFERENCE_RECIPE, **overrides, "data": "bach", "device": args.device})
    rates = {"torch": [], "einsum": []}
    for _ in range(args.rounds):
        for form in rates:
            rates[form].append(rate(cfg, form, iters))
    best = {form: max(r) for form, r in rates.items()}
    print(f"{name} (width {cfg.g_width or 128}, batch {cfg.batch_size}): torch convolutions {best['torch']:.1f} it/s, "
          f"einsums {best['einsum']:.1f} it/s, ratio {best['einsum'] / best['torch']:.2f}x "
          f"(best of {args.rounds} alternating rounds)")
