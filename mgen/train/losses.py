"""GAN losses by name (as in compare_gan): each a pair of small functions of D's outputs.

d(real_out, fake_out, smooth) -> D's loss; g(fake_out) -> G's loss. `smooth` is one-sided label
smoothing (Salimans et al. 2016): the real target becomes 1 - smooth; hinge and WGAN have no
targets and ignore it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _bce(out, target):
    # target: a float, or a 0-d tensor for a population member's own smoothing (mgen/train/population.py)
    return F.binary_cross_entropy_with_logits(out, torch.ones_like(out) * target)


def d_nonsat(real, fake, smooth):  # Goodfellow et al. 2014; D is the same for minimax
    return _bce(real, 1.0 - smooth) + _bce(fake, 0.0)


def g_nonsat(fake):  # maximise log D(G(z))
    return _bce(fake, 1.0)


def g_minimax(fake):  # minimise log(1 - D(G(z))) = -softplus(logit)
    return -F.softplus(fake).mean()


def d_hinge(real, fake, smooth):  # Lim & Ye 2017; Miyato et al. 2018
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_hinge(fake):
    return -fake.mean()


def d_lsgan(real, fake, smooth):  # Mao et al. 2017, targets a=0, b=c=1
    return 0.5 * ((real - (1.0 - smooth)) ** 2).mean() + 0.5 * (fake ** 2).mean()


def g_lsgan(fake):
    return 0.5 * ((fake - 1.0) ** 2).mean()


def d_wgan(real, fake, smooth):  # Arjovsky et al. 2017; the gradient penalty is added by the loop
    return fake.mean() - real.mean()


LOSSES = {
    "nonsat": (d_nonsat, g_nonsat),
    "minimax": (d_nonsat, g_minimax),
    "hinge": (d_hinge, g_hinge),
    "lsgan": (d_lsgan, g_lsgan),
    "wgan-gp": (d_wgan, g_hinge),  # G maximises D's score: the same -mean as hinge
}


def gradient_penalty(D, real, fake, prev, chord, g: torch.Generator) -> torch.Tensor:
    """(||grad D(x_hat)||_2 - 1)^2 at random interpolates (Gulrajani et al. 2017)."""
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), generator=g).to(real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = D(x_hat, prev, chord)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
