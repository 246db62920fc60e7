"""build_models: the networks each method trains, by family."""
from __future__ import annotations

from torch import nn

from mgen.models.midinet import Discriminator, Encoder, Generator, spectral_normed
from mgen.models.mlp import MLPDiscriminator, MLPEncoder, MLPGenerator
from mgen.models.vae import VAE

DEFAULT_Z_DIM = {"bars": 100, "points": 2}
DEFAULT_WIDTH = {"bars": (128, 128), "points": (400, 200)}  # (G, D)


def build_models(method: str, kind: str, z_dim: int, g_width: int, d_width: int,
                 cond: str = "none", inject: str = "1d", d_maxout: int = 0, g_output: str = "sigmoid",
                 d_norm: str = "none", d_intervals: int = 0, d_pair_kernel: int = 0,
                 d_extra_route: str = "decision", d_norm_scale: float = 1.0) -> dict[str, nn.Module]:
    """The networks a method trains: gan -> {G, D}; vae -> {vae}; imle -> {G}.

    kind is "bars" (16x128 piano rolls) or "points" (2D mixtures); 0 sizes take the family defaults.
    d_maxout > 1 gives the points D linear maxout units with that many pieces (PacGAN's 2D protocol).
    g_output is the bar generator's output, d_norm D's normalisation, d_intervals the range of D's interval
    features, d_pair_kernel the pitch width of its pair features, d_extra_route where those go
    (mgen/models/midinet.py), d_norm_scale the spectral norm each normalised layer of D keeps (1: Miyato's).
    """
    z_dim = z_dim or DEFAULT_Z_DIM[kind]
    g_width = g_width or DEFAULT_WIDTH[kind][0]
    d_width = d_width or DEFAULT_WIDTH[kind][1]
    if kind == "points":
        gen = MLPGenerator(z_dim, g_width)
        if method == "gan":
            disc = MLPDiscriminator(d_width, maxout=d_maxout)
            return {"G": gen, "D": spectral_normed(disc, d_norm_scale) if d_norm == "spectral" else disc}
        if method == "vae":
            return {"vae": VAE(MLPEncoder(z_dim, d_width), gen, z_dim)}
        return {"G": gen}
    gen = Generator(z_dim, g_width, cond, inject, g_output)
    if method == "gan":
        disc = Discriminator(d_width, cond, inject, intervals=d_intervals, pair_kernel=d_pair_kernel,
                             extra_route=d_extra_route)
        return {"G": gen, "D": spectral_normed(disc, d_norm_scale) if d_norm == "spectral" else disc}
    if method == "vae":
        return {"vae": VAE(Encoder(z_dim, d_width, cond, inject), gen, z_dim)}
    return {"G": gen}

