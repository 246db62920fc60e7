"""A space of bars where distance means musical difference: standardised musical descriptors.

On raw 16x128 piano rolls Euclidean distance is a count of differing cells, so a sparse bar (one short
note) is about as close to every bar as two real bars are to each other: it is a hub, and a generator
of one such bar "covers" a quarter of the data. The k-NN metrics (precision, recall, density,
coverage), NDB and the Frechet distance are therefore computed on these descriptors of each bar,
five blocks chosen with the metric sanity ladder (`mgen metrics check`, mgen/metrics/ladder.py):

- pitch classes: duration-weighted pitch-class histogram (12)
- register: mean, lowest and highest sounding pitch, over 12 (3)
- rhythm: onset pattern (16) and sounding pattern (16) over the bar's sixteenth steps
- melody: the top voice's contour, each sounding step's top pitch minus the bar's mean pitch, over
          12 (16; 0 at rests)
- motion: histogram of intervals between consecutive onsets' top pitches, in 9 classes (repeat,
          step, third, fourth-fifth, larger; up or down), as shares of the bar's intervals

Each dimension is centred on the reference set's mean, and each block is divided by the square root
of its total variance in the reference, so the five blocks contribute equal variance: no block wins
by having more dimensions. Scaling by block, not by dimension, matters: per-dimension
standardisation gives a pitch class that one bar in a hundred uses (sd 0.01) a hundredfold weight,
makes every such real bar an outlier with a huge k-NN ball, and that ball then swallows noise. Empty bars have no
descriptors (`embed` returns their rows but `nonempty` marks them); the metrics treat empty generated
bars as misses.
"""
from __future__ import annotations

import numpy as np

STEPS = 16
_PC_ONEHOT = np.eye(12)[np.arange(128) % 12]  # (128, 12)
_INTERVAL_EDGES = np.array([-12.5, -4.5, -2.5, -0.5, 0.5, 2.5, 4.5, 12.5])  # 9 classes with the tails
BLOCKS = {"pitch_classes": slice(0, 12), "register": slice(12, 15), "rhythm": slice(15, 47),
          "melody": slice(47, 63), "motion": slice(63, 72)}
DIM = 72


def descriptors(bars) -> tuple[np.ndarray, np.ndarray]:
    """(N, 72) raw descriptors of binary bars (N, 16, 128), and the (N,) mask of non-empty bars."""
    x = np.asarray(bars) > 0.5
    n = len(x)
    sounding = x.any(axis=2)  # (N, 16)
    nonempty = sounding.any(axis=1)
    prev = np.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :-1]
    onsets_cells = x & ~prev
    onsets = onsets_cells.any(axis=2).astype(float)  # (N, 16)
    pitches = np.arange(128)
    # Top pitch at each step (-1 at rests).
    top = np.where(sounding, 127 - x[:, :, ::-1].argmax(axis=2), -1)  # (N, 16)
    cells = x.sum(axis=(1, 2)).astype(float)
    pc = x.sum(axis=1) @ _PC_ONEHOT  # (N, 12) duration-weighted
    pc = pc / np.maximum(cells, 1)[:, None]
    by_pitch = x.any(axis=1)  # (N, 128)
    mean_pitch = (x.sum(axis=1) * pitches).sum(axis=1) / np.maximum(cells, 1)
    lowest = np.where(nonempty, by_pitch.argmax(axis=1), 0)
    highest = np.where(nonempty, 127 - by_pitch[:, ::-1].argmax(axis=1), 0)
    register = np.stack([mean_pitch, lowest, highest], axis=1) / 12.0
    top_mean = np.where(sounding, top, 0).sum(axis=1) / np.maximum(sounding.sum(axis=1), 1)
    contour = np.where(sounding, top - top_mean[:, None], 0.0) / 12.0  # (N, 16)
    motion = np.zeros((n, len(_INTERVAL_EDGES) + 1))
    onset_top = np.where(onsets_cells, pitches, -1).max(axis=2)  # top pitch starting at each step, -1 none
    for i in np.nonzero(nonempty)[0]:
        tops = onset_top[i][onset_top[i] >= 0]
        if len(tops) > 1:
            classes = np.searchsorted(_INTERVAL_EDGES, np.diff(tops))
            motion[i] = np.bincount(classes, minlength=len(_INTERVAL_EDGES) + 1) / (len(tops) - 1)
    out = np.concatenate([pc, register, onsets, sounding.astype(float), contour, motion], axis=1)
    return out.astype(np.float32), nonempty


class BarEmbedding:
    """Descriptors centred and scaled block by block by a reference set (module docstring)."""

    def __init__(self, reference_bars):
        d, nonempty = descriptors(reference_bars)
        d = d[nonempty] if nonempty.any() else d
        self.mean = d.mean(axis=0)
        var = d.var(axis=0)
        self.weight = np.ones(DIM, np.float32)
        for block in BLOCKS.values():
            total = float(var[block].sum())
            self.weight[block] = 1.0 / np.sqrt(total) if total > 1e-12 else 1.0

    def __call__(self, bars) -> tuple[np.ndarray, np.ndarray]:
        """(N, 72) embedded bars and the (N,) non-empty mask."""
        d, nonempty = descriptors(bars)
        return ((d - self.mean) * self.weight).astype(np.float32), nonempty
