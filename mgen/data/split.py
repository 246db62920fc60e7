"""Deterministic splits of a data set by piece: trials train on one part and are evaluated on another.

A piece's part depends only on its index and the split seed (a hash, not the order of the others), so
adding pieces to a corpus does not move the old ones between parts. Bars of one piece stay together:
a chorale's repeated phrases in both parts would make copying look like generalising.
"""
from __future__ import annotations

import hashlib

import numpy as np

HELDOUT_SHARE = 0.2  # trials: share of pieces held out as the evaluation reference
SPLIT_SEED = 0


def piece_fraction(pieces: np.ndarray, seed: int = SPLIT_SEED) -> np.ndarray:
    """A number in [0, 1) per example, the same for every example of a piece: its place in the split."""
    uniq, inverse = np.unique(np.asarray(pieces), return_inverse=True)
    values = np.array([int.from_bytes(hashlib.sha256(f"{seed}:{int(p)}".encode()).digest()[:8], "big") / 2 ** 64
                       for p in uniq])
    return values[inverse]


def heldout_mask(pieces: np.ndarray, share: float = HELDOUT_SHARE, seed: int = SPLIT_SEED) -> np.ndarray:
    """(N,) bool: True for examples of held-out pieces (about `share` of the pieces)."""
    return piece_fraction(pieces, seed) < share


def split_parts(pieces: np.ndarray, shares: tuple[float, ...], seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Indices of examples in consecutive parts of the pieces, e.g. shares (0.5, 0.25, 0.25)."""
    frac = piece_fraction(pieces, seed)
    edges = np.concatenate([[0.0], np.cumsum(shares)])
    edges[-1] = 1.0 + 1e-9
    return [np.nonzero((frac >= lo) & (frac < hi))[0] for lo, hi in zip(edges[:-1], edges[1:])]
