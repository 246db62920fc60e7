"""Frechet distance between two sets of embeddings (Heusel et al. 2017's FID formula; on bar embeddings
it is the symbolic-music analogue of FID/FMD): ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Both (N, D); NaN with fewer than two rows on either side."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if len(real) < 2 or len(fake) < 2:
        return float("nan")
    mu_r, mu_g = real.mean(0), fake.mean(0)
    s_r, s_g = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    with warnings.catch_warnings():  # a singular product is handled below
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s_r @ s_g)
    if not np.isfinite(covmean).all():  # singular product (a collapsed set): regularise, as FID code does
        eps = 1e-6 * np.eye(len(mu_r))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = linalg.sqrtm((s_r + eps) @ (s_g + eps))
    covmean = covmean.real
    return float(max(((mu_r - mu_g) ** 2).sum() + np.trace(s_r) + np.trace(s_g) - 2 * np.trace(covmean), 0.0))
