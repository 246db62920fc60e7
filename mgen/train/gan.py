"""GAN training: per iteration, d_steps discriminator updates, then g_steps generator updates."""
from __future__ import annotations

import torch

from mgen.train.losses import LOSSES, gradient_penalty
from mgen.train.method import Method


class GAN(Method):
    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.G, self.D = self.nets["G"], self.nets["D"]
        self.adam("d", self.D.parameters(), cfg.lr_d, (cfg.beta1_d, cfg.beta2_d))
        self.adam("g", self.G.parameters(), cfg.lr_g, (cfg.beta1_g, cfg.beta2_g))
        self.d_loss, self.g_loss = LOSSES[cfg.loss]

    def sample(self, z, prev, chord):
        return self.G(z, prev, chord)

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        cfg, data = self.cfg, self.data
        d_losses, g_losses = [], []
        for _ in range(cfg.d_steps):
            real, prev, chord = data.batch(cfg.batch_size, g)
            with torch.no_grad():
                fake = self.G(data.noise(cfg.batch_size, self.z_dim, g), prev, chord)
            loss = self.d_loss(self.D(real, prev, chord), self.D(fake, prev, chord), cfg.label_smoothing)
            if cfg.loss == "wgan-gp":
                loss = loss + cfg.gp_weight * gradient_penalty(self.D, real, fake, prev, chord, g)
            d_losses.append(self.update("d", loss))
        for _ in range(cfg.g_steps):
            real, prev, chord = data.batch(cfg.batch_size, g)
            fake = self.G(data.noise(cfg.batch_size, self.z_dim, g), prev, chord)
            fake_out, fake_features = self.D(fake, prev, chord, return_features=True)
            loss = self.g_loss(fake_out)
            if cfg.fm_weight > 0:  # feature matching on D's early layer (Salimans et al. 2016)
                with torch.no_grad():
                    _, real_features = self.D(real, prev, chord, return_features=True)
                loss = loss + cfg.fm_weight * ((real_features.mean(0) - fake_features.mean(0)) ** 2).sum()
            g_losses.append(self.update("g", loss))
        return {"loss_d": sum(d_losses) / len(d_losses), "loss_g": sum(g_losses) / len(g_losses)}
