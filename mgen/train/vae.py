"""Conditional VAE training: reconstruction + kl_weight * KL, one update per iteration."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mgen.train.method import Method

POINT_SD = 0.05  # 2D mixtures: the decoder is Gaussian with this fixed sd (bars: Bernoulli)


class VAETrainer(Method):
    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.vae = self.nets["vae"]
        self.adam("vae", self.vae.parameters(), cfg.lr_g, (cfg.beta1_g, cfg.beta2_g))

    def sample(self, z, prev, chord):
        return self.vae.decoder(z, prev, chord)

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        x, prev, chord = self.data.batch(self.cfg.batch_size, g)
        recon, mu, logvar = self.vae(x, prev, chord)
        if self.data.is_points:
            rec = ((recon - x) ** 2).sum(1).mean() / (2 * POINT_SD ** 2)
        else:
            rec = F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="sum") / len(x)
        kl = self.vae.kl(mu, logvar)
        loss = rec + self.cfg.kl_weight * kl
        return {"loss": self.update("vae", loss), "loss_recon": rec.item(), "loss_kl": kl.item()}
