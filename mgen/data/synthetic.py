"""Synthetic sets with known modes, so "how many modes did the generator find" has an exact answer.

- `ring`: 8 Gaussians evenly spaced on the unit circle.
- `grid`: 25 Gaussians on a 5x5 lattice with spacing 1, centred at the origin.
  Both follow the 2D-mixture protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018)
  -- ring of radius 2 with sd 0.02, grid spacing 2 with sd 0.05 -- scaled by 1/2, so the default sds
  are 0.01 and 0.025 and every "within 3 sd" count reads the same as in those papers.
- `motifs`: 8-bar melodies made of K planted one-bar motifs; each bar is one motif, with probability
  `vary` one of its notes moved one scale step. The clean motifs are the modes.
"""
from __future__ import annotations

import numpy as np

from mgen.data.bars import BAR_QUARTERS, Piece, render_roll

C_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MOTIF_LOW, MOTIF_HIGH = 60, 84  # pitch range of planted motifs (C4..C6)
BARS_PER_MELODY = 8


def ring_centres(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def grid_centres(side: int = 5, spacing: float = 1.0) -> np.ndarray:
    coords = (np.arange(side) - (side - 1) / 2) * spacing
    return np.stack(np.meshgrid(coords, coords, indexing="ij"), axis=-1).reshape(-1, 2)


def sample_mixture(centres: np.ndarray, std: float, n: int, rng: np.random.Generator):
    """n points from an equal-weight Gaussian mixture; returns (points (n, 2), mode index (n,))."""
    labels = rng.integers(len(centres), size=n)
    points = centres[labels] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels


def _scale_pitches() -> np.ndarray:
    pitches = np.array([o * 12 + c for o in range(11) for c in C_MAJOR])
    return pitches[(pitches >= MOTIF_LOW) & (pitches <= MOTIF_HIGH)]


# Planted motifs differ in at least this many roll cells, far more than a variation changes (<= 9:
# a moved note of up to 4 steps, plus one step where a repeated-note gap appears or goes).
MIN_MOTIF_CELLS_APART = 20
MAX_VARIATION_CELLS = 9


def make_motifs(k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """K one-bar motifs, pairwise far apart, as (onset, end, scale index) rows in quarters."""
    scale = _scale_pitches()
    motifs, rolls = [], []
    while len(motifs) < k:
        durations, total = [], 0
        while total < 16:  # sixteenth, eighth, dotted eighth or quarter steps
            d = int(rng.choice([1, 2, 3, 4], p=[0.1, 0.45, 0.1, 0.35]))
            d = min(d, 16 - total)
            durations.append(d)
            total += d
        degree = int(rng.integers(3, len(scale) - 3))
        rows, t = [], 0
        for d in durations:
            rows.append((t / 4, (t + d) / 4, degree))
            t += d
            degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, len(scale) - 1))
        rows = np.asarray(rows, dtype=float)
        notes = np.column_stack([rows[:, :2], scale[rows[:, 2].astype(int)]])
        roll = render_roll(notes, 16)
        if all((roll ^ other).sum() >= MIN_MOTIF_CELLS_APART for other in rolls):
            motifs.append(rows)
            rolls.append(roll)
    return motifs


def motif_pieces(k: int, n_melodies: int, vary: float, rng: np.random.Generator):
    """Melodies of planted motifs as Pieces, plus the clean motifs as one-bar Pieces (the modes)."""
    scale = _scale_pitches()
    motifs = make_motifs(k, rng)

    def to_notes(rows: np.ndarray, bar: int) -> np.ndarray:
        notes = rows.copy()
        notes[:, :2] += bar * BAR_QUARTERS
        notes[:, 2] = scale[rows[:, 2].astype(int)]
        return notes

    def measures(n_bars: int) -> np.ndarray:
        return np.array([(b * BAR_QUARTERS, BAR_QUARTERS, BAR_QUARTERS) for b in range(n_bars)], dtype=float)

    pieces = []
    for m in range(n_melodies):
        notes = []
        for bar in range(BARS_PER_MELODY):
            rows = motifs[int(rng.integers(k))].copy()
            if rng.random() < vary:
                i = int(rng.integers(len(rows)))
                rows[i, 2] = np.clip(rows[i, 2] + rng.choice([-1, 1]), 0, len(scale) - 1)
            notes.append(to_notes(rows, bar))
        notes = np.concatenate(notes)
        pieces.append(Piece(f"melody{m}", notes, notes, measures(BARS_PER_MELODY)))
    modes = [Piece(f"motif{i}", to_notes(r, 0), to_notes(r, 0), measures(1)) for i, r in enumerate(motifs)]
    return pieces, modes
