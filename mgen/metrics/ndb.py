"""Number of statistically Different Bins and JSD (Richardson & Weiss 2018, "On GANs and GMMs").

Real samples are clustered with k-means into K bins; real and generated samples are assigned to the
nearest centroid; each bin's two proportions are compared with a two-proportion z-test.
"""
from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.stats import norm

from mgen.metrics.knn import as_matrix, nearest_distance


def ndb_bins(real, fake, bins: int = 50, alpha: float = 0.05, seed: int = 0):
    """Per bin: real proportion p, generated proportion q, and whether they differ significantly."""
    real_m, fake_m = as_matrix(real), as_matrix(fake)
    bins = max(2, min(bins, len(real_m) // 10))
    centroids, _ = kmeans2(real_m.numpy().astype(np.float64), bins, minit="++", seed=seed)
    centroids = as_matrix(centroids)
    real_counts = np.bincount(nearest_distance(real_m, centroids)[1].numpy(), minlength=bins)
    fake_counts = np.bincount(nearest_distance(fake_m, centroids)[1].numpy(), minlength=bins)
    p, q = real_counts / real_counts.sum(), fake_counts / fake_counts.sum()
    n1, n2 = real_counts.sum(), fake_counts.sum()
    pooled = (real_counts + fake_counts) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = np.divide(p - q, se, out=np.zeros_like(p), where=se > 0)
    return p, q, 2 * norm.sf(np.abs(z)) < alpha


def ndb_jsd(real, fake, bins: int = 50, alpha: float = 0.05, seed: int = 0) -> dict[str, float]:
    p, q, different = ndb_bins(real, fake, bins, alpha, seed)
    m = 0.5 * (p + q)

    def kl(a, b):
        mask = a > 0
        return float((a[mask] * np.log(a[mask] / b[mask])).sum())

    return {"ndb": float(different.sum()), "ndb_ratio": float(different.mean()),
            "jsd": 0.5 * kl(p, m) + 0.5 * kl(q, m), "ndb_bins": float(len(p))}
