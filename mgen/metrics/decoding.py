"""One decoding of generated probabilities into notes, shared by every method (GAN, VAE, IMLE) and `mgen generate`.

Monophonic data (melody: at most one pitch a step, which is what mgen's bars hold unless
`--polyphonic`): at each sixteenth step the bar sounds when the step's probabilities add up to at
least one half -- the expected number of active cells, which for a model of a one-hot-or-silent
step is its chance of sounding -- and then plays the most probable pitch (the higher one on a tie,
as the melody is the top voice). A thresholded roll would turn a VAE or IMLE whose probability mass
is spread over a few neighbouring pitches (each below 0.5) into silence, and a GAN's near-binary
outputs decode the same either way.

Polyphonic data: each cell sounds when its probability is at least one half.
"""
from __future__ import annotations

import numpy as np

_TIE_BREAK = np.linspace(0.0, 1e-6, 128, dtype=np.float64)  # argmax prefers the higher pitch on a tie


def is_monophonic(bars) -> bool:
    """True when no step of any bar holds more than one pitch (binary bars)."""
    x = np.asarray(bars) > 0.5
    return bool(len(x) == 0 or x.sum(axis=-1).max(initial=0) <= 1)


def decode_bars(probs, monophonic: bool = True) -> np.ndarray:
    """(N, 16, 128) probabilities (or binary bars) -> (N, 16, 128) bool notes (module docstring)."""
    p = np.asarray(probs, dtype=np.float64)
    if not monophonic:
        return p >= 0.5
    sounds = p.sum(axis=-1) >= 0.5  # (N, 16)
    pitch = (p + _TIE_BREAK).argmax(axis=-1)  # (N, 16)
    out = np.zeros(p.shape, bool)
    n, t = np.nonzero(sounds)
    out[n, t, pitch[n, t]] = True
    return out
