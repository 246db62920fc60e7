"""Collapse and failure signals: duplicates, z-sensitivity, memorisation, and the `collapsed` and `failed` rules.

collapsed (the generator covers few of the data's modes) is True when either
- diversity < 0.3: the generated set occupies fewer than 0.3 times as many effective musical bins as
  the real set does (mgen/metrics/ndb.py): four repeated bars of Bach land near 0.1, clean output of
  all 8 planted motifs near 0.45, or
- z_sensitivity < 0.1 (when measured): with the condition held fixed, outputs for different z lie on
  average less than a tenth as far apart as real examples do (single-point collapse).
Both are relative to the real data at the same N, so data that repeats itself (motifs) is not held
against a generator that repeats it the same way. The threshold was chosen with the metric ladder.

failed (the generator did not learn to make music, which is not the same thing as collapse) is True
when at least half the generated bars are empty, or fewer than 5% of them lie inside any real
bar's k-NN ball in the embedding (precision < 0.05: noise, or one-note output nothing real is near).
A diverged trial is failed too (set by the training loop).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from mgen.metrics.knn import as_matrix, kth_neighbour_radius, nearest_distance

DIVERSITY_COLLAPSED = 0.3
Z_SENSITIVITY_COLLAPSED = 0.1
EMPTY_FAILED = 0.5
PRECISION_FAILED = 0.05


def duplicates(fake, near_threshold: float) -> dict[str, float]:
    """Exact and near duplicate rates, and the number of distinct samples.

    duplicate_rate: share of samples that equal another sample exactly; near_duplicate_rate: share
    whose nearest other sample is within `near_threshold`.
    """
    x = as_matrix(fake)
    _, inverse, counts = torch.unique(x, dim=0, return_inverse=True, return_counts=True)
    exact = (counts[inverse] > 1).float().mean().item()
    nearest = kth_neighbour_radius(x, 1)  # distance to the nearest other sample
    return {"duplicate_rate": exact, "near_duplicate_rate": (nearest <= near_threshold).float().mean().item(),
            "distinct": float(len(counts)), "distinct_ratio": len(counts) / len(x)}


def mean_pairwise_distance(x: torch.Tensor, max_pairs: int = 20000, seed: int = 0) -> float:
    """Mean distance between random distinct pairs of rows."""
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    i = torch.randint(n, (max_pairs,), generator=g)
    j = (i + torch.randint(1, n, (max_pairs,), generator=g)) % n
    return (x[i] - x[j]).norm(dim=1).mean().item()


def z_sensitivity(same_condition: np.ndarray, real, spread: float | None = None) -> float:
    """Mean distance between outputs for different z under one condition, over the real spread.

    same_condition: (n_conditions, n_z, ...) outputs (bars: their embeddings); each group shares a condition.
    spread: mean_pairwise_distance(as_matrix(real)) computed before (then `real` is not read).
    """
    groups = torch.as_tensor(np.asarray(same_condition), dtype=torch.float64).flatten(2)  # (C, Z, D)
    within = torch.cdist(groups, groups)  # (C, Z, Z)
    n_z = groups.shape[1]
    mean_within = within.sum() / (len(groups) * n_z * (n_z - 1))
    spread = mean_pairwise_distance(as_matrix(real)) if spread is None else spread
    return float(mean_within / spread) if spread > 0 else 0.0


def memorisation(fake, train, near_cells: int = 2) -> float:
    """Share of non-empty generated bars that copy a training bar exactly or within `near_cells` cells."""
    fake = np.asarray(fake) > 0.5
    fake = fake[fake.any(axis=(1, 2))]
    if len(fake) == 0 or len(train) == 0:
        return float("nan")
    used = np.asarray(train).any(axis=(0, 1)) | fake.any(axis=(0, 1))  # pitches either set uses
    dist, _ = nearest_distance(as_matrix(fake[:, :, used]), as_matrix(np.asarray(train)[:, :, used]))
    return (dist <= math.sqrt(near_cells)).double().mean().item()


def is_collapsed(diversity: float, z_sens: float = float("nan")) -> bool:
    """The rule in this module's docstring; a NaN z_sensitivity (not measured) does not count."""
    return bool(diversity < DIVERSITY_COLLAPSED) or bool(z_sens < Z_SENSITIVITY_COLLAPSED)


def is_failed(empty_bar_rate: float, precision: float) -> bool:
    return bool(empty_bar_rate >= EMPTY_FAILED) or bool(precision < PRECISION_FAILED)
