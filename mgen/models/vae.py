"""Conditional VAE over bars (or 2D points): the GAN's encoder-shaped D and its generator as decoder."""
from __future__ import annotations

import torch
from torch import nn


class VAE(nn.Module):
    """encoder(x, prev, chord) -> (mu, logvar); decoder(z, prev, chord) -> reconstruction."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, z_dim: int):
        super().__init__()
        self.encoder, self.decoder, self.z_dim = encoder, decoder, z_dim

    def forward(self, x, prev=None, chord=None, eps=None):
        """eps: the reparameterisation's noise (B, z_dim); drawn from torch's global generator when None."""
        mu, logvar = self.encoder(x, prev, chord)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + eps * torch.exp(0.5 * logvar)  # reparameterisation (Kingma & Welling 2014)
        return self.decoder(z, prev, chord), mu, logvar

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)), summed over z, mean over the batch."""
        return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
