"""IMLE training (Li & Malik 2018): pull, for each real example, the nearest of m generated samples towards it.

Each round takes imle_pool real examples, draws imle_m noise vectors per example (with that example's
conditions), keeps the noise whose output is nearest (batched in torch), then runs imle_inner_steps
updates of ||G(z*) - x||^2 on minibatches of the matched pairs.

G stays in eval mode throughout, so its batch norms are fixed affine maps: selecting a sample with
running statistics and then training it with batch statistics pulled a different output from the one
chosen (measured on the 25-mode grid, m = 50, lr 1e-3, 3,000 steps: 19 modes and 3% high-quality
samples with train-mode batch norm, 25 modes and 13% without the mismatch).
"""
from __future__ import annotations

import torch

from mgen.train.method import Method


def nearest_samples(G, z, real, prev, chord, m: int) -> torch.Tensor:
    """For each of n real examples (n, D), the index of the nearest of its m samples G(z) (z: (n * m, z_dim))."""
    out = G(z, prev, chord).flatten(1).view(len(real), m, -1)
    return ((out - real[:, None]) ** 2).sum(-1).argmin(1)  # (n,)


def imle_loss(G, z, x, prev, chord):
    """Squared distance between G(z*) and the real examples its noise was chosen for; shared with the
    population trainer."""
    return ((G(z, prev, chord) - x) ** 2).flatten(1).sum(1).mean()


class IMLE(Method):
    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.G = self.nets["G"]
        self.adam("g", self.G.parameters(), cfg.lr_g, (cfg.beta1_g, cfg.beta2_g))
        self.pool_idx = torch.zeros(0, dtype=torch.long)
        self.pool_z = torch.zeros(0, self.z_dim)
        self.inner = 0

    def sample(self, z, prev, chord):
        return self.G(z, prev, chord)

    @torch.no_grad()
    def _new_round(self, g: torch.Generator) -> None:
        cfg, data = self.cfg, self.data
        self.pool_idx = torch.randint(len(data), (cfg.imle_pool,), generator=g)
        chosen = []
        for part in self.pool_idx.split(pool_chunk(cfg)):
            real = data.x[part.to(data.device)].flatten(1)  # (n, D)
            prev, chord = data.conditions(part.repeat_interleave(cfg.imle_m))
            z = torch.randn(len(part) * cfg.imle_m, self.z_dim, generator=g)
            nearest = nearest_samples(self.G, z.to(data.device), real, prev, chord, cfg.imle_m)
            chosen.append(z.view(len(part), cfg.imle_m, -1)[torch.arange(len(part)), nearest.cpu()])
        self.pool_z = torch.cat(chosen)

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        cfg, data = self.cfg, self.data
        self.G.eval()  # see the module docstring
        if self.inner % cfg.imle_inner_steps == 0:
            self._new_round(g)
        self.inner += 1
        pick = torch.randint(len(self.pool_idx), (min(cfg.batch_size, len(self.pool_idx)),), generator=g)
        idx = self.pool_idx[pick]
        prev, chord = data.conditions(idx)
        loss = imle_loss(self.G, self.pool_z[pick].to(data.device), data.x[idx.to(data.device)], prev, chord)
        return {"loss": self.update("g", loss)}

    def extra_state(self) -> dict:
        return {**super().extra_state(), "pool_idx": self.pool_idx, "pool_z": self.pool_z, "inner": self.inner}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.pool_idx, self.pool_z, self.inner = state["pool_idx"], state["pool_z"], int(state["inner"])


def pool_chunk(cfg) -> int:
    """Real examples matched at once in a round (bounds the m samples each one draws)."""
    return max(1, 4096 // cfg.imle_m)
