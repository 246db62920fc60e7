"""Number of statistically Different Bins and JSD (Richardson & Weiss 2018, "On GANs and GMMs"), and the
graded diversity read off the same bins.

Real samples are clustered with k-means into K bins; real and generated samples are assigned to the
nearest centroid; each bin's two proportions are compared with a two-proportion z-test. `evaluate`
bins bar embeddings (mgen/metrics/embedding.py); empty generated bars fall in an extra bin that real
data never occupies.

diversity: the effective number of bins the generated set occupies (the perplexity, exp of the
entropy, of its bin histogram) over the real set's at the same N (a fixed subsample of the real bin
labels: a histogram of fewer samples has a lower perplexity). About 1 for a generator that spreads
like the data; K distinct outputs give at most K over the real perplexity, so one repeated bar is
near 0.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from scipy.stats import norm

from mgen.metrics.knn import as_matrix, nearest_distance


def real_bins(real, bins: int = 50, seed: int = 0) -> tuple[torch.Tensor, np.ndarray, int]:
    """(centroids, the bin of every real row, the number of bins): k-means on the real rows."""
    real_m = as_matrix(real)
    bins = max(2, min(bins, len(real_m) // 10))
    centroids, _ = kmeans2(real_m.numpy(), bins, minit="++", seed=seed)
    centroids = as_matrix(centroids)
    return centroids, nearest_distance(real_m, centroids)[1].numpy(), bins


def bin_labels(real, fake, bins: int = 50, seed: int = 0, fitted=None) -> tuple[np.ndarray, np.ndarray, int]:
    """The bin of every real and generated row, and the number of bins; `fitted`: real_bins(real, bins, seed)."""
    centroids, real_labels, bins = fitted if fitted is not None else real_bins(real, bins, seed)
    fake_m = as_matrix(fake)
    fake_labels = nearest_distance(fake_m, centroids)[1].numpy() if len(fake_m) else np.zeros(0, int)
    return real_labels, fake_labels, bins


def bin_counts(real, fake, bins: int = 50, seed: int = 0, extra_fake: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin of real and generated rows; `extra_fake` generated samples go in one more bin."""
    real_labels, fake_labels, bins = bin_labels(real, fake, bins, seed)
    return _counts(real_labels, fake_labels, bins, extra_fake)


def _counts(real_labels, fake_labels, bins: int, extra_fake: int):
    real_counts = np.bincount(real_labels, minlength=bins)
    fake_counts = np.bincount(fake_labels, minlength=bins)
    if extra_fake:
        real_counts, fake_counts = np.append(real_counts, 0), np.append(fake_counts, extra_fake)
    return real_counts, fake_counts


def different_bins(real_counts, fake_counts, alpha: float = 0.05):
    """Per bin: real proportion p, generated proportion q, and whether they differ significantly."""
    n1, n2 = real_counts.sum(), fake_counts.sum()
    p, q = real_counts / n1, fake_counts / max(n2, 1)
    pooled = (real_counts + fake_counts) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / max(n2, 1)))
    z = np.divide(p - q, se, out=np.zeros_like(p), where=se > 0)
    return p, q, 2 * norm.sf(np.abs(z)) < alpha


def ndb_bins(real, fake, bins: int = 50, alpha: float = 0.05, seed: int = 0):
    return different_bins(*bin_counts(real, fake, bins, seed), alpha)


def perplexity(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())) if len(p) else 0.0


def ndb_jsd(real, fake, bins: int = 50, alpha: float = 0.05, seed: int = 0, extra_fake: int = 0,
            fitted=None) -> dict[str, float]:
    real_labels, fake_labels, n_bins = bin_labels(real, fake, bins, seed, fitted)
    real_counts, fake_counts = _counts(real_labels, fake_labels, n_bins, extra_fake)
    n_fake = len(fake_labels) + extra_fake
    same_n = np.random.default_rng(seed).permutation(len(real_labels))[:max(n_fake, 1)]
    p, q, different = different_bins(real_counts, fake_counts, alpha)
    m = 0.5 * (p + q)

    def kl(a, b):
        mask = a > 0
        return float((a[mask] * np.log(a[mask] / b[mask])).sum())

    return {"ndb": float(different.sum()), "ndb_ratio": float(different.mean()),
            "jsd": 0.5 * kl(p, m) + 0.5 * kl(q, m), "ndb_bins": float(len(p) - bool(extra_fake)),
            "occupied_bins": float((fake_counts > 0).sum()), "occupied_bins_real": float((real_counts > 0).sum()),
            "diversity": perplexity(q) / perplexity(np.bincount(real_labels[same_n], minlength=n_bins) / len(same_n))}
