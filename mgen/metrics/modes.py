"""Known-mode metrics for the synthetic sets.

ring/grid (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): a sample is high quality when
it lies within 3 sd of its nearest mode; a mode is captured when at least one high-quality sample is
nearest to it (the published protocol: `modes_captured`). `modes_captured_5` is a stricter count,
at least 5 such samples, so that one stray sample does not count as a mode.
motifs: a bar is near a motif when within `threshold` (default 3 = sqrt(9 cells), what one moved note
can change) of its nearest planted motif; counted the same two ways.
"""
from __future__ import annotations

import numpy as np
import torch

from mgen.metrics.knn import as_matrix, nearest_distance

STRICT_PER_MODE = 5
MOTIF_THRESHOLD = 3.0


def _captured(dist: torch.Tensor, idx: torch.Tensor, threshold: float, n_modes: int) -> dict[str, float]:
    good = dist <= threshold
    per_mode = torch.bincount(idx[good], minlength=n_modes)
    return {"modes_captured": float((per_mode >= 1).sum()), "modes_captured_5": float((per_mode >= STRICT_PER_MODE).sum()),
            "modes_total": float(n_modes), "high_quality": good.double().mean().item()}


def mixture_modes(fake, centres, std: float) -> dict[str, float]:
    dist, idx = nearest_distance(as_matrix(fake), as_matrix(centres))
    return _captured(dist, idx, 3 * std, len(centres))


def motif_modes(fake_bars, motifs, threshold: float = MOTIF_THRESHOLD) -> dict[str, float]:
    fake = as_matrix(np.asarray(fake_bars) > 0.5)
    dist, idx = nearest_distance(fake, as_matrix(np.asarray(motifs) > 0.5))
    return _captured(dist, idx, threshold, len(motifs))
