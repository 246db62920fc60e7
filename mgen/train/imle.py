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
from mgen.train.runner import Solo


def nearest_samples(G, z, real, prev, chord, m: int) -> torch.Tensor:
    """For each of n real examples (n, D), the index of the nearest of its m samples G(z) (z: (n * m, z_dim))."""
    out = G(z, prev, chord).flatten(1).view(len(real), m, -1)
    return ((out - real[:, None]) ** 2).sum(-1).argmin(1)  # (n,)


def imle_loss(G, z, x, prev, chord):
    """Squared distance between G(z*) and the real examples its noise was chosen for; shared with the
    population trainer."""
    return ((G(z, prev, chord) - x) ** 2).flatten(1).sum(1).mean()


@torch.no_grad()
def new_round(run, who) -> None:
    """Draw imle_pool real examples and keep, for each, the nearest of imle_m samples' noise (the matched pool)."""
    cfg, data = run.cfg, run.data
    pool_idx = run.randint(who, len(data), (cfg.imle_pool,))  # (pool,), or (members, pool)
    chosen = []
    for first in range(0, cfg.imle_pool, pool_chunk(cfg)):
        part = pool_idx[..., first:first + pool_chunk(cfg)]
        n = part.shape[-1]
        real = data.x[part.to(data.device)].flatten(part.dim())  # (..., n, D)
        prev, chord = data.conditions(part.repeat_interleave(cfg.imle_m, dim=-1))
        z = run.randn(who, n * cfg.imle_m)  # (..., n * m, z_dim)
        nearest = run.call(["G"], lambda G, z_, r, p, c: nearest_samples(G, z_, r, p, c, cfg.imle_m),
                           z.to(data.device), real, prev, chord, who=who).cpu()  # (..., n)
        options = z.view(*z.shape[:-2], n, cfg.imle_m, z.shape[-1])
        chosen.append(torch.take_along_dim(options, nearest[..., None, None], dim=-2).squeeze(-2))
    run.put("pool_idx", pool_idx, who)
    run.put("pool_z", torch.cat(chosen, dim=-2), who)


def iteration(run, who) -> None:
    """One update of G towards a minibatch of the matched pool's examples from their chosen noise."""
    cfg, data = run.cfg, run.data
    pool_idx, pool_z = run.get("pool_idx", who), run.get("pool_z", who)
    pick = run.randint(who, pool_idx.shape[-1], (min(cfg.batch_size, pool_idx.shape[-1]),))
    idx = torch.take_along_dim(pool_idx, pick, dim=-1)
    prev, chord = data.conditions(idx)
    z = torch.take_along_dim(pool_z, pick[..., None], dim=-2).to(data.device)
    loss = run.call(["G"], imle_loss, z, data.x[idx.to(data.device)], prev, chord, who=who)
    run.update("g", loss, who, "loss")


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

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        self.G.eval()  # see the module docstring
        run = Solo(self, g)
        if self.inner % self.cfg.imle_inner_steps == 0:
            new_round(run, None)
        self.inner += 1
        iteration(run, None)
        return run.losses()

    def extra_state(self) -> dict:
        return {**super().extra_state(), "pool_idx": self.pool_idx, "pool_z": self.pool_z, "inner": self.inner}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.pool_idx, self.pool_z, self.inner = state["pool_idx"], state["pool_z"], int(state["inner"])


def pool_chunk(cfg) -> int:
    """Real examples matched at once in a round (bounds the m samples each one draws)."""
    return max(1, 4096 // cfg.imle_m)
