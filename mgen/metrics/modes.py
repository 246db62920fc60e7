"""Known-mode metrics for the synthetic sets.

ring/grid (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): a sample is high quality when
it lies within 3 sd of its nearest mode; a mode is captured when at least `min_per_mode` high-quality
samples fall to it (mgen's choice: 5, so that one stray sample does not count as a mode).
motifs: a bar is near a motif when within `threshold` (default 3 = sqrt(9 cells), what one moved note
can change) of its nearest planted motif; a motif is generated when at least `min_per_mode` bars are
near it.
"""
from __future__ import annotations

import numpy as np
import torch

from mgen.metrics.knn import as_matrix, nearest_distance

MIN_PER_MODE = 5
MOTIF_THRESHOLD = 3.0


def _captured(dist: torch.Tensor, idx: torch.Tensor, threshold: float, n_modes: int, min_per_mode: int):
    good = dist <= threshold
    per_mode = torch.bincount(idx[good], minlength=n_modes)
    return int((per_mode >= min_per_mode).sum()), good.float().mean().item()


def mixture_modes(fake, centres, std: float, min_per_mode: int = MIN_PER_MODE) -> dict[str, float]:
    dist, idx = nearest_distance(as_matrix(fake), as_matrix(centres))
    captured, share = _captured(dist, idx, 3 * std, len(centres), min_per_mode)
    return {"modes_captured": float(captured), "modes_total": float(len(centres)), "high_quality": share}


def motif_modes(fake_bars, motifs, threshold: float = MOTIF_THRESHOLD,
                min_per_mode: int = MIN_PER_MODE) -> dict[str, float]:
    fake = as_matrix(np.asarray(fake_bars) > 0.5)
    dist, idx = nearest_distance(fake, as_matrix(np.asarray(motifs) > 0.5))
    captured, share = _captured(dist, idx, threshold, len(motifs), min_per_mode)
    return {"modes_captured": float(captured), "modes_total": float(len(motifs)), "high_quality": share}
