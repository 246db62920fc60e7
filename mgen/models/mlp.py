"""Small MLP generator, discriminator and encoder for the 2D Gaussian mixtures (ring, grid).

Sizes follow the 2D-mixture protocol of PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al.
2017): G has 4 hidden layers of 400 ReLU units with batch norm, D has 3 hidden layers of 200 units,
linear maxout with 5 pieces in PacGAN's code (`maxout=5`); LeakyReLU(0.2) by default.
The condition arguments exist so every family has one call signature; the mixtures have none.
"""
from __future__ import annotations

import torch
from torch import nn


def _mlp(sizes: list[int], act: type[nn.Module], batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if batch_norm else []) + [act()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class Maxout(nn.Module):
    """Linear maxout (Goodfellow et al. 2013): the max over `pieces` affine maps of the input."""

    def __init__(self, in_dim: int, out_dim: int, pieces: int):
        super().__init__()
        self.out_dim, self.pieces = out_dim, pieces
        self.linear = nn.Linear(in_dim, out_dim * pieces)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.out_dim, self.pieces).amax(dim=2)


class MLPGenerator(nn.Module):
    """z (B, z_dim) -> point (B, 2)."""

    def __init__(self, z_dim: int = 2, width: int = 400, depth: int = 4):
        super().__init__()
        self.z_dim = z_dim
        self.net = _mlp([z_dim] + [width] * depth + [2], nn.ReLU, batch_norm=True)

    def forward(self, z, prev=None, chord=None) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """point (B, 2) -> logit (B,) (or (B, out_dim)); with return_features, also (first hidden layer,)."""

    def __init__(self, width: int = 200, depth: int = 3, out_dim: int = 1, maxout: int = 0):
        super().__init__()
        if maxout > 1:
            self.first = Maxout(2, width, maxout)
            self.rest = nn.Sequential(*[Maxout(width, width, maxout) for _ in range(depth - 1)],
                                      nn.Linear(width, out_dim))
        else:
            self.first = nn.Sequential(nn.Linear(2, width), nn.LeakyReLU(0.2))
            self.rest = _mlp([width] * depth + [out_dim], lambda: nn.LeakyReLU(0.2), batch_norm=False)

    def forward(self, x, prev=None, chord=None, return_features: bool = False):
        features = self.first(x)  # (B, width)
        out = self.rest(features)
        out = out.squeeze(1) if out.shape[1] == 1 else out
        return (out, (features,)) if return_features else out


class MLPEncoder(MLPDiscriminator):
    """For the VAE: point -> (mu, logvar), each (B, z_dim)."""

    def __init__(self, z_dim: int = 2, width: int = 200, depth: int = 3):
        super().__init__(width, depth, out_dim=2 * z_dim)

    def forward(self, x, prev=None, chord=None):
        return super().forward(x).chunk(2, dim=1)
