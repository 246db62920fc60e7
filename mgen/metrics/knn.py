"""k-NN ball metrics: precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

All distances are Euclidean on flattened samples (any feature vectors; `evaluate` passes bar
embeddings), computed in chunks so that 10,000 x 10,000 comparisons stay within a few hundred MiB.
A point counts as inside a k-NN ball only when strictly closer than the radius, as in Naeem et al.'s
reference implementation (the `prdc` package, which tests/metrics compares with): on data with
repeated bars distances tie often, and counting ties (`<=`) inflates all four metrics.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

CHUNK = 1024  # rows of the distance matrix held at once
SPARSE = 0.05  # rows with fewer non-zero entries than this share are multiplied as sparse matrices
TIE = 1e-9  # squared distances below this are rounding error of equal rows


def as_matrix(x) -> torch.Tensor:
    """Rows as float64: with float32 the rounding of |a|^2 - 2ab + |b|^2 is larger than many real gaps."""
    # np.require copies a read-only array (Ray's object store hands those out); torch wants writable ones
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.require(x, requirements="W"))
    return t.reshape(len(t), int(np.prod(t.shape[1:]))).to(torch.float64)


def _integral(t: torch.Tensor) -> bool:
    return bool(torch.equal(t, t.round()))


def _exact_in_float32(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether a @ b.T is exact in float32: integer entries (piano rolls are 0/1) whose products summed
    over a row stay below 2^24, float32's last exact integer."""
    if not len(a) or not len(b):
        return False
    bound = float(a.abs().max()) * float(b.abs().max()) * a.shape[1]
    return bound < 2**24 and _integral(a) and (b is a or _integral(b))


def _row_chunks(a: torch.Tensor, b: torch.Tensor):
    """Yield (row slice, distance block (chunk, len(b))) over the rows of a.

    The products run in float32 when that is exact (integer data such as 0/1 rolls: about twice the
    speed of float64 on CPU, identical distances), else in float64; and from a sparse (CSR) copy of
    the rows when under SPARSE of their entries are non-zero (bars hold about 1%: 8x fewer operations)."""
    fast = _exact_in_float32(a, b)
    sparse = fast and float((a != 0).float().mean()) < SPARSE
    if fast:  # squared distances are exact integers in float32 too, so the whole block stays float32
        a, b = a.float(), b.float()
    b_sq = (b * b).sum(1)
    b_t = b.T.contiguous()
    for start in range(0, len(a), CHUNK):
        block = a[start:start + CHUNK]
        if sparse:
            with warnings.catch_warnings():  # "sparse CSR support is in beta": CSR @ dense is all we use
                warnings.simplefilter("ignore", UserWarning)
                cross = block.to_sparse_csr() @ b_t
        else:
            cross = block @ b_t
        sq = cross.mul_(-2).add_((block * block).sum(1, keepdim=True)).add_(b_sq)
        sq[sq < TIE] = 0.0  # equal rows are at distance 0 exactly, so ties stay ties
        yield slice(start, start + len(block)), sq.sqrt_()


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)) Euclidean distances, for small sets."""
    return torch.cat([d for _, d in _row_chunks(a, b)]) if len(a) else torch.zeros(0, len(b))


def kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (the k-NN ball radius)."""
    radii = torch.empty(len(x), dtype=torch.float64)
    k_eff = min(k, len(x) - 1)
    for rows, d in _row_chunks(x, x):
        # Each row's distance to itself is 0 and sorts first, so the k-th neighbour is at index k.
        radii[rows] = d.topk(k_eff + 1, dim=1, largest=False).values[:, -1]
    return radii


def nearest_distance(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of a: distance to and index of its nearest row of b."""
    dist, idx = torch.empty(len(a), dtype=torch.float64), torch.empty(len(a), dtype=torch.long)
    for rows, d in _row_chunks(a, b):
        dist[rows], idx[rows] = d.min(dim=1)
    return dist, idx


def real_balls(real, k: int = 5, distinct: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ball centres, how often each occurs among the real rows, ball radii): the real side of `prdc`."""
    real = as_matrix(real)
    if distinct:
        centres, counts = torch.unique(real, dim=0, return_counts=True)
    else:
        centres, counts = real, torch.ones(len(real), dtype=torch.long)
    return centres, counts, kth_neighbour_radius(centres, k)


def prdc(real, fake, k: int = 5, distinct: bool = False, balls=None) -> dict[str, float]:
    """Precision, recall, density and coverage of fake samples against real ones.

    distinct=False is Naeem et al.'s reference implementation exactly (the `prdc` package).
    distinct=True builds the real balls on distinct real rows and weights coverage by how often each
    occurs. Melody data repeats bars (three in four Bach soprano bars have an exact copy in the corpus);
    with copies a bar's k-NN radius is 0 and, counted strictly, nothing can cover it: a perfect
    generator of planted motifs would score coverage ~0. On data without copies both are the same.
    balls: `real_balls(real, k, distinct)` computed before (the same for every set compared with `real`).
    """
    centres, counts, real_radii = balls if balls is not None else real_balls(real, k, distinct)
    fake = as_matrix(fake)
    fake_radii = kth_neighbour_radius(fake, k)
    # One pass over the fake x real distances gives all four (the reference computes them apart):
    # per fake row, the real balls it is in; per real column, its nearest fake and whether it lies in
    # some fake ball (with distinct=True each distinct real row counts as often as it occurs, so recall
    # and coverage stay shares of all real rows).
    in_real_balls = torch.empty(len(fake))
    nearest_fake = torch.full((len(centres),), torch.inf, dtype=torch.float64)
    in_fake_ball = torch.zeros(len(centres), dtype=torch.bool)
    for rows, d in _row_chunks(fake, centres):
        in_real_balls[rows] = (d < real_radii[None, :]).sum(1).float()
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
        in_fake_ball |= (d < fake_radii[rows, None]).any(dim=0)
    covered = (nearest_fake < real_radii).double()
    recall = ((in_fake_ball.double() * counts).sum() / counts.sum()).item()
    return {
        "precision": (in_real_balls > 0).float().mean().item(),
        "recall": recall,
        "density": (in_real_balls.sum() / (k * len(fake))).item(),
        "coverage": ((covered * counts).sum() / counts.sum()).item(),
    }
