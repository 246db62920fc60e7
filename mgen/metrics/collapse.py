"""Collapse signals: duplicates among generated samples, z-sensitivity, and the `collapsed` rule.

collapsed is True when either
- z_sensitivity < 0.1: with the condition held fixed, outputs for different z lie on average less
  than a tenth as far apart as real examples do (single-point collapse), or
- near_duplicate_rate is past halfway from the real set's own near-duplicate rate to 1: the samples
  repeat each other far more than real examples do (collapse onto a few outputs). Real music repeats
  itself -- about 60% of a thousand Bach bars have a near copy among them -- so the bar is relative.
"""
from __future__ import annotations

import numpy as np
import torch

from mgen.metrics.knn import as_matrix, kth_neighbour_radius

Z_SENSITIVITY_COLLAPSED = 0.1


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


def z_sensitivity(same_condition: np.ndarray, real) -> float:
    """Mean distance between outputs for different z under one condition, over the real spread.

    same_condition: (n_conditions, n_z, ...) outputs; each group shares a condition.
    """
    groups = torch.as_tensor(same_condition, dtype=torch.float32).flatten(2)  # (C, Z, D)
    within = torch.cdist(groups, groups)  # (C, Z, Z)
    n_z = groups.shape[1]
    mean_within = within.sum() / (len(groups) * n_z * (n_z - 1))
    spread = mean_pairwise_distance(as_matrix(real))
    return float(mean_within / spread) if spread > 0 else 0.0


def is_collapsed(z_sens: float, near_duplicate_rate: float, real_near_duplicate_rate: float) -> bool:
    """The rule in this module's docstring; a NaN z_sensitivity (not measured) does not count."""
    return bool(z_sens < Z_SENSITIVITY_COLLAPSED) or near_duplicate_rate > (1 + real_near_duplicate_rate) / 2
