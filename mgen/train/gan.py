"""GAN training: per iteration, d_steps discriminator updates, then g_steps generator updates.

The iteration is written once (`iteration`) and run by a trial (mgen.train.runner.Solo) and by a
population's members at once (mgen.train.members.Batched).
"""
from __future__ import annotations

import torch

from mgen.models.midinet import set_spectral_scale
from mgen.train.losses import LOSSES, gradient_penalty
from mgen.train.method import Method
from mgen.train.runner import Solo


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


def iteration(run) -> None:
    """One GAN iteration: d_steps updates of D, then g_steps updates of G, each on a fresh batch and noise."""
    cfg = run.cfg
    if cfg.d_norm_warmup:
        set_spectral_scale(run.net("D"), spectral_scale(cfg, run.iterations_done()))
    for k in range(run.rounds("d_steps")):
        who = run.taking("d_steps", k)
        real, prev, chord = run.batch(who)
        z = run.noise(who)
        with torch.no_grad():
            fake = run.call(["G"], lambda G, *a: G(*a), z, prev, chord, who=who)
        loss = run.call(["D"], lambda D, r, f, p, c, s: discriminator_loss(D, r, f, p, c, cfg.loss, s, cfg.d_mismatch),
                        real, fake, prev, chord, run.value("label_smoothing", who), who=who)
        if cfg.loss == "wgan-gp":  # a trial's only: WGAN-GP trials do not join populations (population_key)
            loss = loss + cfg.gp_weight * gradient_penalty(run.net("D"), real, fake, prev, chord, run.g)
        run.update("d", loss, who, "loss_d")
    for k in range(run.rounds("g_steps")):
        who = run.taking("g_steps", k)
        real, prev, chord = run.batch(who)
        z = run.noise(who)
        loss = run.call(["G", "D"], lambda G, D, z_, r, p, c, w, wi: generator_loss(
                            G, D, z_, r, p, c, cfg.loss, w, cfg.fm_weight > 0, wi),
                        z, real, prev, chord, run.value("fm_weight", who), run.value("fm_interval_weight", who), who=who)
        run.update("g", loss, who, "loss_g")


class GAN(Method):
    def __init__(self, cfg, data):
        super().__init__(cfg, data)
        self.G, self.D = self.nets["G"], self.nets["D"]
        self.adam("d", self.D.parameters(), cfg.lr_d, (cfg.beta1_d, cfg.beta2_d))
        self.adam("g", self.G.parameters(), cfg.lr_g, (cfg.beta1_g, cfg.beta2_g))

    def sample(self, z, prev, chord):
        return self.G(z, prev, chord)

    def iteration(self, g: torch.Generator) -> dict[str, float]:
        run = Solo(self, g)
        iteration(run)
        return run.losses()
