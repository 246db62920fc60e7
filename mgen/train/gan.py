"""GAN training: per iteration, d_steps discriminator updates, then g_steps generator updates.

The two losses are functions of the networks and one batch, shared with the population trainer
(mgen/train/population.py), which calls them for every member at once.
"""
from __future__ import annotations

import torch

from mgen.models.midinet import set_spectral_scale
from mgen.train.losses import LOSSES, gradient_penalty
from mgen.train.method import Method


def spectral_scale(cfg, iteration: int) -> float:
    """The spectral norm of D's normalised layers in `iteration` (0-based): d_norm_scale, reached linearly
    from 1 over the first d_norm_warmup iterations."""
    if not cfg.d_norm_warmup:
        return cfg.d_norm_scale
    return 1.0 + (cfg.d_norm_scale - 1.0) * min(1.0, iteration / cfg.d_norm_warmup)


def discriminator_loss(D, real, fake, prev, chord, loss: str, smooth, mismatch: float = 0.0):
    """D's loss on a real and a generated batch (D sees the real one first). With `mismatch` w > 0 and a
    condition, the real batch under its conditions rolled by one bar (each bar under its neighbour's)
    counts as fake too: (1 - w) L(real, fake) + w L(real, mismatched), on D's decision logit, so D learns
    that a real bar under the wrong condition is not real (Reed et al. 2016, "Generative adversarial
    text to image synthesis", GAN-CLS; w = 0.5 is their equal split of the fake term)."""
    real_out, d_loss = D(real, prev, chord), LOSSES[loss][0]
    out = d_loss(real_out, D(fake, prev, chord), smooth)
    if not mismatch or (prev is None and chord is None):
        return out
    roll = lambda c: None if c is None else c.roll(1, 0)  # noqa: E731
    decision = lambda o: o[:, 0] if o.dim() == 2 else o  # noqa: E731  (the extra features' head has no condition)
    return (1 - mismatch) * out + mismatch * d_loss(decision(real_out), decision(D(real, roll(prev), roll(chord))), smooth)


def generator_loss(G, D, z, real, prev, chord, loss: str, fm_weight, feature_matching: bool, fm_interval_weight=0.0):
    """G's loss on noise z; with feature matching, plus fm_weight times the squared distance between the
    mean features of D's early layer on the generated and the real batch (Salimans et al. 2016), D's
    interval and pair features (if it has them) weighted fm_interval_weight times as much."""
    fake = G(z, prev, chord)
    fake_out, fake_features = D(fake, prev, chord, return_features=True)
    out = LOSSES[loss][1](fake_out)
    if feature_matching:
        with torch.no_grad():
            _, real_features = D(real, prev, chord, return_features=True)
        gaps = [((r.mean(0) - f.mean(0)) ** 2).sum() for r, f in zip(real_features, fake_features)]
        out = out + fm_weight * (gaps[0] if len(gaps) == 1 else gaps[0] + fm_interval_weight * sum(gaps[1:]))
    return out


class GAN(Method):
    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.G, self.D = self.nets["G"], self.nets["D"]
        self.adam("d", self.D.parameters(), cfg.lr_d, (cfg.beta1_d, cfg.beta2_d))
        self.adam("g", self.G.parameters(), cfg.lr_g, (cfg.beta1_g, cfg.beta2_g))

    def sample(self, z, prev, chord):
        return self.G(z, prev, chord)

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        cfg, data = self.cfg, self.data
        if cfg.d_norm_warmup:  # iterations done so far, from the update count a checkpoint restores
            set_spectral_scale(self.D, spectral_scale(cfg, self.counts["d_updates"] // cfg.d_steps))
        d_losses, g_losses = [], []
        for _ in range(cfg.d_steps):
            real, prev, chord = data.batch(cfg.batch_size, g)
            with torch.no_grad():
                fake = self.G(data.noise(cfg.batch_size, self.z_dim, g), prev, chord)
            loss = discriminator_loss(self.D, real, fake, prev, chord, cfg.loss, cfg.label_smoothing, cfg.d_mismatch)
            if cfg.loss == "wgan-gp":
                loss = loss + cfg.gp_weight * gradient_penalty(self.D, real, fake, prev, chord, g)
            d_losses.append(self.update("d", loss))
        for _ in range(cfg.g_steps):
            real, prev, chord = data.batch(cfg.batch_size, g)
            z = data.noise(cfg.batch_size, self.z_dim, g)
            loss = generator_loss(self.G, self.D, z, real, prev, chord, cfg.loss, cfg.fm_weight, cfg.fm_weight > 0,
                                  cfg.fm_interval_weight)
            g_losses.append(self.update("g", loss))
        return {"loss_d": sum(d_losses) / len(d_losses), "loss_g": sum(g_losses) / len(g_losses)}
