"""Metrics of mode collapse, diversity and musical quality; `evaluate` returns them all as one flat dict.

See the metrics table in README.md for each name's range and direction.
"""
from __future__ import annotations

import numpy as np

from mgen.metrics.collapse import duplicates, is_collapsed, z_sensitivity
from mgen.metrics.knn import as_matrix, kth_neighbour_radius, prdc
from mgen.metrics.modes import mixture_modes, motif_modes
from mgen.metrics.music import music_statistics
from mgen.metrics.ndb import ndb_jsd

NEAR_DUPLICATE_CELLS = 2  # bars: a near duplicate differs in at most this many cells
NEAR_DUPLICATE_POINTS = 0.1  # points: near when closer than this share of the median real NN distance


def prdc_without_empty_bars(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """PRDC where empty generated bars lie outside the data (data sets hold no empty bars).

    On raw piano rolls an empty bar is a hub: it is about as close to every bar as two real bars
    are to each other, so a generator of silence would "cover" much of the data. Empty generated
    bars therefore count as misses: they are in no real ball and cover nothing.
    """
    nonempty = fake.reshape(len(fake), -1).any(axis=1)
    share = float(nonempty.mean())
    if nonempty.sum() <= k:
        return {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    out = prdc(real, fake[nonempty], k=k)
    out["precision"] *= share  # shares of all generated bars, the empty ones counted as outside
    out["density"] *= share
    return out


def evaluate(fake, real, kind: str = "bars", same_condition=None, modes=None, mode_std: float = 0.0,
             k: int = 5, ndb_bins: int = 50, seed: int = 0) -> dict[str, float]:
    """All metrics of generated samples `fake` against `real` ones, as a flat dict of floats.

    kind: "bars" ((N, 16, 128), generated probabilities are binarised at 0.5; empty generated bars
    count as misses in precision, recall, density and coverage) or "points" ((N, 2)).
    same_condition: (n_conditions, n_z, ...) outputs for z-sensitivity (None skips it).
    modes: known modes (motif bars, or mixture centres with mode_std) for the synthetic sets.
    """
    fake = np.asarray(fake)
    real = np.asarray(real)
    if kind == "bars":
        fake = fake > 0.5
        real = real > 0.5
        near = float(np.sqrt(NEAR_DUPLICATE_CELLS))
    elif kind == "points":
        radii = kth_neighbour_radius(as_matrix(real), 1)
        near = NEAR_DUPLICATE_POINTS * float(radii.median())
    else:
        raise ValueError(f"kind must be 'bars' or 'points', not {kind!r}")
    if kind == "bars":
        out = prdc_without_empty_bars(real, fake, k)
    else:
        out = prdc(real, fake, k=k)
    out.update(ndb_jsd(real, fake, bins=ndb_bins, seed=seed))
    out.update(duplicates(fake, near))
    out["near_duplicate_rate_real"] = duplicates(real[: len(fake)], near)["near_duplicate_rate"]
    if same_condition is not None:
        same = np.asarray(same_condition)
        out["z_sensitivity"] = z_sensitivity(same > 0.5 if kind == "bars" else same, real)
    else:
        out["z_sensitivity"] = float("nan")
    out["collapsed"] = float(is_collapsed(out["z_sensitivity"], out["near_duplicate_rate"], out["near_duplicate_rate_real"]))
    if kind == "bars":
        out.update(music_statistics(fake, real, seed=seed))
        if modes is not None:
            out.update(motif_modes(fake, modes))
    elif modes is not None:
        out.update(mixture_modes(fake, modes, mode_std))
    return out


__all__ = ["evaluate"]
