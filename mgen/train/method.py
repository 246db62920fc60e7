"""What a training method provides to the shared loop in trial.py: networks, optimisers, one iteration."""
from __future__ import annotations

import torch
from torch import nn

from mgen.models import build_models
from mgen.train.config import TrialConfig


class Method:
    """Base: builds the method's networks for the data kind and counts optimiser updates."""

    def __init__(self, cfg: TrialConfig, data):
        self.cfg, self.data = cfg, data
        kind = "points" if data.is_points else "bars"
        self.nets: dict[str, nn.Module] = {
            k: m.to(data.device) for k, m in
            build_models(cfg.method, kind, cfg.z_dim, cfg.g_width, cfg.d_width, cfg.cond, cfg.inject,
                         cfg.d_maxout, cfg.g_output, cfg.d_norm, cfg.d_intervals,
                         cfg.d_pair_kernel, cfg.d_extra_route, cfg.d_norm_scale).items()}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.counts: dict[str, int] = {}

    @property
    def z_dim(self) -> int:
        gen = self.nets.get("G") or self.nets["vae"].decoder
        return gen.z_dim

    def adam(self, name: str, params, lr: float, betas: tuple[float, float]) -> None:
        self.opts[name] = torch.optim.Adam(params, lr=lr, betas=betas)
        self.counts[f"{name}_updates"] = 0

    def update(self, name: str, loss: torch.Tensor) -> float:
        """One optimiser step on `loss`; returns the loss value."""
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        self.counts[f"{name}_updates"] += 1
        return loss.item()

    def modules(self) -> dict[str, nn.Module]:
        return self.nets

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.opts

    def counters(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.counts.items()}

    def extra_state(self) -> dict:
        return {"counts": dict(self.counts)}

    def load_extra_state(self, state: dict) -> None:
        self.counts.update(state.get("counts", {}))

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        raise NotImplementedError

    def sample(self, z, prev, chord) -> torch.Tensor:
        raise NotImplementedError
