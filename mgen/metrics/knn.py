"""k-NN ball metrics: precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

All distances are Euclidean on flattened samples (bars or any feature vectors), computed in chunks
so that 10,000 x 10,000 comparisons stay within a few hundred MiB.
"""
from __future__ import annotations

import torch

CHUNK = 1024  # rows of the distance matrix held at once


def as_matrix(x) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t.reshape(len(t), -1).to(torch.float32)


def _row_chunks(a: torch.Tensor, b: torch.Tensor):
    """Yield (row slice, distance block (chunk, len(b))) over the rows of a."""
    b_sq = (b * b).sum(1)
    for start in range(0, len(a), CHUNK):
        block = a[start:start + CHUNK]
        sq = (block * block).sum(1, keepdim=True) - 2 * block @ b.T + b_sq
        yield slice(start, start + len(block)), sq.clamp_min_(0).sqrt_()


def kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (the k-NN ball radius)."""
    radii = torch.empty(len(x))
    k_eff = min(k, len(x) - 1)
    for rows, d in _row_chunks(x, x):
        # Each row's distance to itself is 0 and sorts first, so the k-th neighbour is at index k.
        radii[rows] = d.topk(k_eff + 1, dim=1, largest=False).values[:, -1]
    return radii


def nearest_distance(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of a: distance to and index of its nearest row of b."""
    dist, idx = torch.empty(len(a)), torch.empty(len(a), dtype=torch.long)
    for rows, d in _row_chunks(a, b):
        dist[rows], idx[rows] = d.min(dim=1)
    return dist, idx


def _ball_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point: how many of the balls (centres, radii) contain it."""
    counts = torch.empty(len(points))
    for rows, d in _row_chunks(points, centres):
        counts[rows] = (d <= radii[None, :]).sum(1).float()
    return counts


def prdc(real, fake, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of fake samples against real ones."""
    real, fake = as_matrix(real), as_matrix(fake)
    real_radii = kth_neighbour_radius(real, k)
    fake_radii = kth_neighbour_radius(fake, k)
    in_real_balls = _ball_counts(fake, real, real_radii)
    nearest_fake, _ = nearest_distance(real, fake)
    return {
        "precision": (in_real_balls > 0).float().mean().item(),
        "recall": (_ball_counts(real, fake, fake_radii) > 0).float().mean().item(),
        "density": (in_real_balls.sum() / (k * len(fake))).item(),
        "coverage": (nearest_fake <= real_radii).float().mean().item(),
    }
