"""One trial: data on the device, the training loop shared by every method, evaluation and checkpoints.

A method (gan.py, vae.py, imle.py) supplies its networks, optimisers, one training iteration and a
sampler; `train` runs iterations, stops on NaN/Inf with diverged=True, and every `eval_every`
iterations yields a Report with losses, metrics, throughput and a checkpoint that restores the trial
exactly. A trial is a pure function of its config (seed included) on a given device.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from mgen.data import BarDataset
from mgen.errors import UserError
from mgen.files import atomic_path
from mgen.metrics import METRICS, Reference, decode_bars, evaluate, worst_value
from mgen.train.config import TrialConfig

Z_SENS_CONDITIONS, Z_SENS_DRAWS = 10, 10  # z-sensitivity: conditions x noise draws per condition
EVAL_DATA_SEED = 12345  # the real reference sample and eval conditions are the same for every trial
REFERENCE_MAX = 2000  # held-out examples in the evaluation reference
# What a diverged trial reports: the worst value of every metric with a direction, so that whichever
# metric a study ranks by is present (Tune stops a study whose trial omits it) and ranks it last.
DIVERGED_METRICS = {name: worst_value(name) for name, m in METRICS.items()
                    if m.direction in ("max", "min") and name != "diverged"} | {"collapsed": 0.0, "failed": 1.0}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA GPU is visible; use device=cpu or device=auto")
    return torch.device(name)


class TrialData:
    """The training part of a data set as tensors on the device, with batch and condition sampling from
    a given RNG, and the held-out part (mgen/data/split.py) that evaluation compares with."""

    def __init__(self, full: BarDataset, device: torch.device):
        ds, self.heldout = full.split()
        self.ds, self.device, self.is_points = ds, device, ds.is_points
        x = torch.tensor(ds.x, dtype=torch.float32)  # a copy: arrays from Ray's object store are read-only
        self.x = (x if self.is_points else x[:, None]).to(device)  # (N, 2) or (N, 1, 16, 128)
        self.prev, self.chord = self._condition_tensors(ds)
        self._heldout_conditions = self._condition_tensors(self.heldout)
        self._reference: Reference | None = None

    def _condition_tensors(self, ds: BarDataset):
        """(prev (N, 1, 16, 128), chord (N, 13)) of a part, on the device; None where the data has none."""
        as_t = lambda a: None if a is None else torch.tensor(a, dtype=torch.float32).to(self.device)  # noqa: E731
        prev = as_t(ds.prev)
        return (None if prev is None else prev[:, None]), as_t(ds.chord)

    def __len__(self) -> int:
        return len(self.x)

    def conditions(self, idx: torch.Tensor, heldout: bool = False):
        """(prev, chord) of examples `idx` of the training part, or of the held-out part."""
        prev, chord = self._heldout_conditions if heldout else (self.prev, self.chord)
        idx = idx.to(self.device)
        return (None if prev is None else prev[idx], None if chord is None else chord[idx])

    def batch(self, n: int, g: torch.Generator):
        idx = torch.randint(len(self), (n,), generator=g)
        return (self.x[idx.to(self.device)], *self.conditions(idx))

    def noise(self, n: int, z_dim: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, z_dim, generator=g).to(self.device)

    def heldout_conditions(self, idx: torch.Tensor) -> tuple[np.ndarray, np.ndarray] | None:
        """(previous bars, chord labels) of held-out examples `idx` as arrays, for the adherence metrics."""
        heldout = self.heldout
        if heldout.prev is None or heldout.chord is None:
            return None
        return heldout.prev[idx.numpy()], heldout.chord[idx.numpy()]

    def reference(self, ref_idx: torch.Tensor) -> Reference:
        """The held-out examples `ref_idx` as the evaluation's reference, its real side computed once."""
        if self._reference is None:
            heldout = self.heldout
            real = heldout.x[ref_idx.numpy()]
            self._reference = (Reference(real, "points", modes=heldout.modes, mode_std=heldout.mode_std) if self.is_points
                               else Reference(real, "bars", train=self.ds.x, modes=heldout.modes,
                                              monophonic=not heldout.config.polyphonic,
                                              conditions=self.heldout_conditions(ref_idx)))
        return self._reference


@dataclass
class Report:
    step: int
    metrics: dict[str, float]  # losses, eval metrics, wall_seconds, steps_per_sec, train_cpu_seconds, diverged
    checkpoint: dict | None  # state for torch.save; restores the trial exactly
    samples: np.ndarray | None = None  # a few generated examples for pictures
    done: bool = False
    extra: dict = field(default_factory=dict)


@torch.no_grad()
def generate(method, data: TrialData, n: int, g: torch.Generator, cond_idx: torch.Tensor | None = None):
    """n samples from the method's sampler with the conditions of held-out examples `cond_idx`."""
    nets = method.modules()
    was_training = {k: m.training for k, m in nets.items()}
    for m in nets.values():
        m.eval()
    try:
        prev, chord = data.conditions(cond_idx, heldout=True) if cond_idx is not None else (None, None)
        out = method.sample(data.noise(n, method.z_dim, g), prev, chord)
    finally:
        for k, m in nets.items():
            m.train(was_training[k])
    return out.float().cpu().numpy()


def eval_conditions(data: TrialData, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Held-out indices of (the reference, the conditions of n generated samples, the conditions of the
    z-sensitivity groups): fixed, so every trial is compared with the same data under the same conditions.

    The reference is every held-out example (at most REFERENCE_MAX, a fixed sample), whatever the
    budget: k-NN balls of a small reference are wide, and one typical bar then sits in many of them.
    """
    fixed = torch.Generator().manual_seed(EVAL_DATA_SEED)
    ref_idx = torch.randperm(len(data.heldout), generator=fixed)[:REFERENCE_MAX].sort().values
    cond_idx = torch.randint(len(data.heldout), (n,), generator=fixed)
    return ref_idx, cond_idx, cond_idx[:Z_SENS_CONDITIONS].repeat_interleave(Z_SENS_DRAWS)


def eval_generator(cfg: TrialConfig, step: int) -> torch.Generator:
    """The evaluation's noise at `step`: independent of the training RNG."""
    return torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)


def score_samples(data: TrialData, fake: np.ndarray, same: np.ndarray, ref_idx: torch.Tensor,
                  cond_idx: torch.Tensor) -> tuple[dict, np.ndarray]:
    """Metrics of generated examples `fake` (made under the conditions of held-out examples `cond_idx`;
    and z-sensitivity groups `same`, flat) against the held-out reference, and a few decoded examples for
    pictures."""
    same = same.reshape(Z_SENS_CONDITIONS, Z_SENS_DRAWS, *same.shape[1:])
    reference = data.reference(ref_idx)
    if data.is_points:
        return evaluate(fake, same_condition=same, reference=reference), fake[:512]  # a scatter needs hundreds of points
    fake, same = fake[:, 0], same[:, :, 0]  # drop the channel axis: (N, 16, 128)
    metrics = evaluate(fake, same_condition=same, reference=reference, conditions=data.heldout_conditions(cond_idx))
    return metrics, decode_bars(fake[:16], reference.monophonic)


def evaluate_method(method, data: TrialData, cfg: TrialConfig, step: int) -> tuple[dict, np.ndarray]:
    """Metrics of eval_samples generated examples, with held-out conditions, against the held-out part."""
    ref_idx, cond_idx, same_idx = eval_conditions(data, cfg.eval_samples)
    g = eval_generator(cfg, step)
    fake = generate(method, data, cfg.eval_samples, g, cond_idx)
    same = generate(method, data, len(same_idx), g, same_idx)
    return score_samples(data, fake, same, ref_idx, cond_idx)


def params_finite(method) -> bool:
    return all(torch.isfinite(p).all() for m in method.modules().values() for p in m.parameters())


def checkpoint_dict(cfg: TrialConfig, step: int, metrics: dict | None, models: dict, optimizers: dict, extra: dict,
                    rng: torch.Tensor, torch_rng: torch.Tensor) -> dict:
    """The one checkpoint format, a trial's and a population member's (mgen/train/members.py): everything
    `train(cfg, ds, resume=...)` needs to go on exactly, and what `mgen generate` reads."""
    return {
        "config": cfg.to_dict(),
        "step": step,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},  # this step's, for `mgen generate`'s warnings
        "models": models,  # network name -> state_dict
        "optimizers": optimizers,  # optimiser name -> torch.optim.Adam state_dict
        "extra": extra,  # the method's counters and own state (IMLE's matched pool)
        "rng": rng,  # the trial's generator: batches and noise
        "torch_rng": torch_rng,  # torch's global generator (the VAE's reparameterisation noise)
    }


def checkpoint_state(cfg: TrialConfig, step: int, method, g: torch.Generator, metrics: dict | None = None) -> dict:
    return checkpoint_dict(cfg, step, metrics, {k: m.state_dict() for k, m in method.modules().items()},
                           {k: o.state_dict() for k, o in method.optimizers().items()}, method.extra_state(),
                           g.get_state(), torch.get_rng_state())


def check_checkpoint_matches(state: dict, cfg: TrialConfig) -> None:
    # A field added after the checkpoint was made stands at its default there (the model it built then).
    saved = {**TrialConfig().to_dict(), **state.get("config", {})}
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs config {v!r}" for k, v in cfg.to_dict().items()
             if k not in TrialConfig.RESUMABLE_CHANGES and saved.get(k) != v]
    if diffs:
        raise UserError("checkpoint was made with a different config (" + "; ".join(diffs[:5])
                        + "); resume with the checkpoint's own config or start a new run")


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Atomic: written to a temporary file of this call's own, then renamed over the target; a failed
    write (a full disk) leaves the target as it was and no temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


CHECKPOINT_KEYS = ("config", "step", "models", "optimizers", "rng", "torch_rng")


def load_checkpoint(path: str | Path, cfg: TrialConfig | None = None) -> dict:
    """Load with weights_only=True (no code runs); a folder means its checkpoint.pt. When cfg is given,
    refuse a checkpoint of a different config. Every failure is a one-line UserError."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; give a checkpoint.pt (or its folder) written by mgen train or a study")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, tampered, not a torch file, or holding objects that are not plain data
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in reason or "Weights only" in reason:
            reason = "it holds objects other than tensors and plain data, which are not loaded"
        raise UserError(f"{path} is not a readable mgen checkpoint ({type(exc).__name__}: {reason[:160]}); "
                        "it may be truncated or tampered with: use another checkpoint or retrain") from None
    if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
        raise UserError(f"{path} is not an mgen checkpoint (it lacks {', '.join(CHECKPOINT_KEYS)})")
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
    # Compute spent training, evaluation left out: the process's CPU seconds, which another trial sharing
    # the machine does not inflate as it does wall time. Comparisons at equal compute read it.
    cpu_spent = float(resume.get("metrics", {}).get("train_cpu_seconds", 0.0)) if resume is not None else 0.0
    start = last_time = time.perf_counter()
    cpu_mark, last_step = time.process_time(), step
    while step < cfg.steps:
        losses = method.iteration(g)
        step += 1
        diverged = not all(math.isfinite(v) for v in losses.values())
        if not (diverged or step % cfg.eval_every == 0 or step == cfg.steps):
            continue
        diverged = diverged or not params_finite(method)
        now, cpu_spent = time.perf_counter(), cpu_spent + time.process_time() - cpu_mark
        metrics = {**losses, "step": float(step), "wall_seconds": now - start,
                   "steps_per_sec": (step - last_step) / max(now - last_time, 1e-9), "train_cpu_seconds": cpu_spent,
                   "diverged": float(diverged), **method.counters()}
        samples = None
        if diverged:  # nothing to evaluate: every metric a study can rank by takes its worst value
            metrics.update(DIVERGED_METRICS)
        else:
            scores, samples = evaluate_method(method, data, cfg, step)
            metrics.update(scores)
        done = diverged or step >= cfg.steps
        yield Report(step, metrics, None if diverged else checkpoint_state(cfg, step, method, g, metrics), samples, done)
        if diverged:
            return
        last_step, last_time, cpu_mark = step, time.perf_counter(), time.process_time()
