"""Conditional VAE training: reconstruction + kl_weight * KL, one update per iteration."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mgen.train.method import Method

POINT_SD = 0.05  # 2D mixtures: the decoder is Gaussian with this fixed sd (bars: Bernoulli)


def vae_loss(vae, x, prev, chord, points: bool, kl_weight, eps=None):
    """(loss, reconstruction term, KL term) of one batch; shared with the population trainer."""
    recon, mu, logvar = vae(x, prev, chord, eps)
    if points:
        rec = ((recon - x) ** 2).sum(1).mean() / (2 * POINT_SD ** 2)
    else:
        rec = F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="sum") / len(x)
    kl = vae.kl(mu, logvar)
    return rec + kl_weight * kl, rec, kl


class VAETrainer(Method):
    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.vae = self.nets["vae"]
        self.adam("vae", self.vae.parameters(), cfg.lr_g, (cfg.beta1_g, cfg.beta2_g))

    def sample(self, z, prev, chord):
        return self.vae.decoder(z, prev, chord)

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        x, prev, chord = self.data.batch(self.cfg.batch_size, g)
        loss, rec, kl = vae_loss(self.vae, x, prev, chord, self.data.is_points, self.cfg.kl_weight)
        return {"loss": self.update("vae", loss), "loss_recon": rec.item(), "loss_kl": kl.item()}
