"""Frechet distance between two sets of embeddings (Heusel et al. 2017's FID formula; on bar embeddings
it is the symbolic-music analogue of FID/FMD): ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, covariance) of rows (N, D); None with fewer than two rows."""
    x = np.asarray(x, np.float64)
    return (x.mean(0), np.cov(x, rowvar=False)) if len(x) >= 2 else None


def frechet_distance(real: np.ndarray | None, fake: np.ndarray, real_moments=None) -> float:
    """Both (N, D) (or the real side's `moments` given); NaN with fewer than two rows on either side."""
    real_moments = real_moments if real_moments is not None else moments(real)
    fake_moments = moments(fake)
    if real_moments is None or fake_moments is None:
        return float("nan")
    (mu_r, s_r), (mu_g, s_g) = real_moments, fake_moments
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
