"""Conditional VAE training: reconstruction + kl_weight * KL, one update per iteration."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mgen.train.method import Method
from mgen.train.runner import Solo

POINT_SD = 0.05  # 2D mixtures: the decoder is Gaussian with this fixed sd (bars: Bernoulli)


def vae_loss(vae, x, prev, chord, points: bool, kl_weight, eps=None):
    """(loss, reconstruction term, KL term) of one batch; shared with the population trainer."""
    recon, mu, logvar = vae(x, prev, chord, eps)
    if points:
        rec = ((recon - x) ** 2).sum(1).mean() / (2 * POINT_SD ** 2)
    else:
        # binary_cross_entropy raises on a NaN input, so it gets a finite stand-in and the term carries the
        # NaN through 0 * recon (exactly 0 while every output is finite): the trial then ends diverged.
        safe = torch.nan_to_num(recon, nan=0.5, posinf=0.5, neginf=0.5).clamp(1e-6, 1 - 1e-6)
        rec = F.binary_cross_entropy(safe, x, reduction="sum") / len(x) + 0 * recon.sum()
    kl = vae.kl(mu, logvar)
    return rec + kl_weight * kl, rec, kl


def iteration(run) -> None:
    """One VAE update on a fresh batch (a trial and a population member alike: mgen.train.runner)."""
    who = run.taking()
    x, prev, chord = run.batch(who)
    points = run.data.is_points
    loss, rec, kl = run.call(["vae"], lambda v, x_, p, c, w, e: vae_loss(v, x_, p, c, points, w, e),
                             x, prev, chord, run.value("kl_weight", who), run.global_noise(who), who=who)
    run.update("vae", loss, who, "loss")
    run.record("loss_recon", rec, who)
    run.record("loss_kl", kl, who)


class VAETrainer(Method):
    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.vae = self.nets["vae"]
        self.adam("vae", self.vae.parameters(), cfg.lr_g, (cfg.beta1_g, cfg.beta2_g))

    def sample(self, z, prev, chord):
        return self.vae.decoder(z, prev, chord)

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        run = Solo(self, g)
        iteration(run)
        return run.losses()
