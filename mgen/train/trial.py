"""One trial: data on the device, the training loop shared by every method, evaluation and checkpoints.

A method (gan.py, vae.py, imle.py) supplies its networks, optimisers, one training iteration and a
sampler; `train` runs iterations, stops on NaN/Inf with diverged=True, and every `eval_every`
iterations yields a Report with losses, metrics, throughput and a checkpoint that restores the trial
exactly. A trial is a pure function of its config (seed included) on a given device.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from mgen.data import BarDataset
from mgen.errors import UserError
from mgen.metrics import evaluate
from mgen.train.config import TrialConfig

Z_SENS_CONDITIONS, Z_SENS_DRAWS = 10, 10  # z-sensitivity: conditions x noise draws per condition
EVAL_DATA_SEED = 12345  # the real reference sample and eval conditions are the same for every trial


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA GPU is visible; use device=cpu or device=auto")
    return torch.device(name)


class TrialData:
    """The data set as tensors on the device, with batch and condition sampling from a given RNG."""

    def __init__(self, ds: BarDataset, device: torch.device):
        self.ds, self.device, self.is_points = ds, device, ds.is_points
        x = torch.tensor(ds.x, dtype=torch.float32)  # a copy: arrays from Ray's object store are read-only
        self.x = (x if self.is_points else x[:, None]).to(device)  # (N, 2) or (N, 1, 16, 128)
        self.prev = None if ds.prev is None else torch.tensor(ds.prev, dtype=torch.float32)[:, None].to(device)
        self.chord = None if ds.chord is None else torch.tensor(ds.chord, dtype=torch.float32).to(device)

    def __len__(self) -> int:
        return len(self.x)

    def conditions(self, idx: torch.Tensor):
        idx = idx.to(self.device)
        return (None if self.prev is None else self.prev[idx], None if self.chord is None else self.chord[idx])

    def batch(self, n: int, g: torch.Generator):
        idx = torch.randint(len(self), (n,), generator=g)
        return (self.x[idx.to(self.device)], *self.conditions(idx))

    def noise(self, n: int, z_dim: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, z_dim, generator=g).to(self.device)


@dataclass
class Report:
    step: int
    metrics: dict[str, float]  # losses, eval metrics, wall_seconds, steps_per_sec, diverged, done
    checkpoint: dict | None  # state for torch.save; restores the trial exactly
    samples: np.ndarray | None = None  # a few generated examples for pictures
    done: bool = False
    extra: dict = field(default_factory=dict)


@torch.no_grad()
def generate(method, data: TrialData, n: int, g: torch.Generator, cond_idx: torch.Tensor | None = None):
    """n samples from the method's sampler with the conditions of real examples `cond_idx`."""
    nets = method.modules()
    was_training = {k: m.training for k, m in nets.items()}
    for m in nets.values():
        m.eval()
    try:
        prev, chord = data.conditions(cond_idx) if cond_idx is not None else (None, None)
        out = method.sample(data.noise(n, method.z_dim, g), prev, chord)
    finally:
        for k, m in nets.items():
            m.train(was_training[k])
    return out.float().cpu().numpy()


def evaluate_method(method, data: TrialData, cfg: TrialConfig, step: int) -> tuple[dict, np.ndarray]:
    """Metrics of eval_samples generated examples against a fixed real reference sample."""
    n = min(cfg.eval_samples, len(data))
    fixed = torch.Generator().manual_seed(EVAL_DATA_SEED)
    ref_idx = torch.randperm(len(data), generator=fixed)[:n]
    cond_idx = torch.randint(len(data), (n,), generator=fixed)
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)  # independent of training RNG
    fake = generate(method, data, n, g, cond_idx)
    same_idx = cond_idx[:Z_SENS_CONDITIONS].repeat_interleave(Z_SENS_DRAWS)
    same = generate(method, data, len(same_idx), g, same_idx)
    same = same.reshape(Z_SENS_CONDITIONS, Z_SENS_DRAWS, *same.shape[1:])
    real = data.ds.x[ref_idx.numpy()]
    kind = "points" if data.is_points else "bars"
    if kind == "bars":
        fake, same = fake[:, 0], same[:, :, 0]  # drop the channel axis: (N, 16, 128)
    metrics = evaluate(fake, real, kind=kind, same_condition=same, modes=data.ds.modes,
                       mode_std=data.ds.mode_std, seed=0)
    return metrics, fake[:16]


def params_finite(method) -> bool:
    return all(torch.isfinite(p).all() for m in method.modules().values() for p in m.parameters())


def checkpoint_state(cfg: TrialConfig, step: int, method, g: torch.Generator) -> dict:
    return {
        "config": cfg.to_dict(),
        "step": step,
        "models": {k: m.state_dict() for k, m in method.modules().items()},
        "optimizers": {k: o.state_dict() for k, o in method.optimizers().items()},
        "extra": method.extra_state(),
        "rng": g.get_state(),
        "torch_rng": torch.get_rng_state(),
    }


def check_checkpoint_matches(state: dict, cfg: TrialConfig) -> None:
    saved = state.get("config", {})
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs config {v!r}" for k, v in cfg.to_dict().items()
             if k not in TrialConfig.RESUMABLE_CHANGES and saved.get(k) != v]
    if diffs:
        raise UserError("checkpoint was made with a different config (" + "; ".join(diffs[:5])
                        + "); resume with the checkpoint's own config or start a new run")


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Atomic: write to a temporary file, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, cfg: TrialConfig | None = None) -> dict:
    """Load with weights_only=True; when cfg is given, refuse a checkpoint of a different config."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if cfg is not None:
        check_checkpoint_matches(state, cfg)
    return state


def build_method(cfg: TrialConfig, data: TrialData):
    from mgen.train import gan, imle, vae

    return {"gan": gan.GAN, "vae": vae.VAETrainer, "imle": imle.IMLE}[cfg.method](cfg, data)


def train(cfg: TrialConfig, ds: BarDataset, resume: dict | None = None) -> Iterator[Report]:
    """Run the trial, yielding a Report every eval_every iterations, at the end, and on divergence."""
    cfg.validate()
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    data = TrialData(ds, device)
    method = build_method(cfg, data)
    g = torch.Generator().manual_seed(cfg.seed)
    step = 0
    if resume is not None:
        check_checkpoint_matches(resume, cfg)
        for k, m in method.modules().items():
            m.load_state_dict(resume["models"][k])
        for k, o in method.optimizers().items():
            o.load_state_dict(resume["optimizers"][k])
        method.load_extra_state(resume.get("extra", {}))
        g.set_state(resume["rng"])
        torch.set_rng_state(resume["torch_rng"])
        step = int(resume["step"])
    start = last_time = time.perf_counter()
    last_step = step
    while step < cfg.steps:
        losses = method.iteration(g)
        step += 1
        diverged = not all(math.isfinite(v) for v in losses.values())
        if not (diverged or step % cfg.eval_every == 0 or step == cfg.steps):
            continue
        diverged = diverged or not params_finite(method)
        now = time.perf_counter()
        metrics = {**losses, "step": float(step), "wall_seconds": now - start,
                   "steps_per_sec": (step - last_step) / max(now - last_time, 1e-9),
                   "diverged": float(diverged), **method.counters()}
        samples = None
        if not diverged:
            scores, samples = evaluate_method(method, data, cfg, step)
            metrics.update(scores)
        done = diverged or step >= cfg.steps
        yield Report(step, metrics, None if diverged else checkpoint_state(cfg, step, method, g), samples, done)
        if diverged:
            return
        last_step, last_time = step, time.perf_counter()
