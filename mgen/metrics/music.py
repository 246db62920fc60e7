"""Music statistics of bars, real vs generated, and the overlap of their distributions.

Per-bar features (on binarised 16x128 bars; a note is a run of active steps of one pitch):
- used_pitch_classes: distinct pitch classes in the bar (Dong et al. 2018, MuseGAN's UPC)
- notes_per_bar: number of notes
- pitch_range: highest minus lowest pitch, semitones (tone span)
- mean_interval: mean absolute interval between consecutive onsets' top pitches (Yang & Lerch 2020)
- scale_consistency: share of notes in the best-fitting major (or relative natural minor) scale
  (Mogren 2016, C-RNN-GAN)
- pc_entropy: entropy (bits) of the bar's duration-weighted pitch-class histogram
- qualified_note_rate: share of notes at least two steps (an eighth) long. MuseGAN counts notes of
  at least a 32nd at 96 steps a bar; on a grid whose shortest note is a sixteenth, fragmented output
  shows as one-step notes instead.
Set-level: empty_bar_rate, and pc_histogram_entropy of the whole set's pitch-class histogram.

Overlap (Yang & Lerch 2020, "On the evaluation of generative models in music"): for each feature,
three distributions of pairwise distances are estimated with Gaussian KDEs: within the real set,
within the generated set, and between the two. `oa_<feature>` is the mean of two overlap areas with
the intra-real one: the inter-set one (are generated bars like real ones?) and the intra-generated
one (do generated bars differ from each other as real ones do? A repeated bar has all its intra-set
distances at 0). 1 = indistinguishable. `kl_<feature>` is the KL divergence of the inter-set
distribution from the intra-real one. `music_overlap` is the mean of `oa_` over features.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import gaussian_kde

FEATURES = ("used_pitch_classes", "notes_per_bar", "pitch_range", "mean_interval", "scale_consistency",
            "pc_entropy", "qualified_note_rate")
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_SCALES = np.stack([np.isin(np.arange(12), (_MAJOR + r) % 12) for r in range(12)])  # (12, 12)
_PC = np.arange(128) % 12


def pitch_class_counts(rolls: np.ndarray) -> np.ndarray:
    """(N, 12) float: active cells of each pitch class in each (16, 128) boolean roll."""
    return np.stack([rolls[:, :, _PC == c].sum(axis=(1, 2)) for c in range(12)], axis=1).astype(float)


def bar_features(bars) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-bar features of non-empty bars, and the boolean mask of non-empty bars."""
    x = np.asarray(bars) > 0.5  # (N, 16, 128)
    nonempty = x.any(axis=(1, 2))
    x = x[nonempty]
    prev = np.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :-1]
    nxt = np.pad(x, ((0, 0), (0, 1), (0, 0)))[:, 1:]
    onsets = x & ~prev  # (N, 16, 128)
    single = onsets & ~nxt  # notes one step long
    n_notes = onsets.sum(axis=(1, 2))
    pc_steps, pc_onsets = pitch_class_counts(x), pitch_class_counts(onsets)  # (N, 12)
    active_pitches = x.any(axis=1)  # (N, 128)
    lo = active_pitches.argmax(axis=1)
    hi = 127 - active_pitches[:, ::-1].argmax(axis=1)
    p = pc_steps / pc_steps.sum(axis=1, keepdims=True)
    entropy = -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)).sum(axis=1)
    # Top pitch of each onset step, in time order; mean |interval| between consecutive ones.
    intervals = np.zeros(len(x))
    for i, bar_onsets in enumerate(onsets):
        steps = np.nonzero(bar_onsets.any(axis=1))[0]
        if len(steps) > 1:
            tops = 127 - bar_onsets[steps, ::-1].argmax(axis=1)
            intervals[i] = np.abs(np.diff(tops)).mean()
    features = {
        "used_pitch_classes": (pc_steps > 0).sum(axis=1).astype(float),
        "notes_per_bar": n_notes.astype(float),
        "pitch_range": (hi - lo).astype(float),
        "mean_interval": intervals,
        "scale_consistency": (pc_onsets @ _SCALES.T).max(axis=1) / n_notes,
        "pc_entropy": entropy,
        "qualified_note_rate": 1.0 - single.sum(axis=(1, 2)) / n_notes,
    }
    return features, nonempty


def _kde(samples: np.ndarray, scale: float):
    jitter = np.random.default_rng(0).normal(0, 1e-3 * scale, len(samples))  # KDE needs a spread
    return gaussian_kde(samples + jitter)


def _pair_distances(a: np.ndarray, b: np.ndarray | None, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """|a_i - b_j| for random pairs; within a (b None) the pairs are of distinct rows."""
    if b is None:
        i, j = rng.integers(len(a), size=(2, n_pairs))
        keep = i != j
        return np.abs(a[i[keep]] - a[j[keep]])
    return np.abs(a[rng.integers(len(a), size=n_pairs)] - b[rng.integers(len(b), size=n_pairs)])


def _overlap(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    return min(float(np.minimum(p, q).sum() * dx), 1.0)


def overlap_and_kl(real_feature: np.ndarray, fake_feature: np.ndarray, n_pairs: int = 2000, seed: int = 0):
    """(overlap area, KL) of Yang & Lerch's distance distributions, as in the module docstring."""
    rng = np.random.default_rng(seed)
    if len(real_feature) < 2 or len(fake_feature) < 2:  # no generated notes: no overlap, KL undefined
        return 0.0, float("nan")
    intra = _pair_distances(real_feature, None, n_pairs, rng)
    inter = _pair_distances(real_feature, fake_feature, n_pairs, rng)
    intra_fake = _pair_distances(fake_feature, None, n_pairs, rng)
    scale = max(intra.max(initial=0), inter.max(initial=0), intra_fake.max(initial=0), 1e-6)
    grid = np.linspace(0, scale * 1.5, 512)
    dx = grid[1] - grid[0]
    p, q, r = (_kde(d, scale)(grid) for d in (intra, inter, intra_fake))
    p, q, r = (v / (v.sum() * dx) for v in (p, q, r))
    eps = 1e-12
    kl = float((p * np.log((p + eps) / (q + eps))).sum() * dx)
    return 0.5 * (_overlap(p, q, dx) + _overlap(p, r, dx)), max(kl, 0.0)


def pc_histogram_entropy(bars) -> float:
    x = np.asarray(bars) > 0.5
    counts = np.bincount(np.nonzero(x)[2] % 12, minlength=12).astype(float)
    if counts.sum() == 0:
        return 0.0
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def real_statistics(real) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """The real side of `music_statistics`: per-bar features, the non-empty mask, the set's pitch-class entropy."""
    return (*bar_features(real), pc_histogram_entropy(real))


def music_statistics(fake, real, seed: int = 0, real_stats=None) -> dict[str, float]:
    """Flat dict: each feature's mean for generated (`<f>`) and real (`<f>_real`) bars, oa_/kl_ per feature.
    real_stats: `real_statistics(real)` computed before."""
    fake_f, fake_mask = bar_features(fake)
    real_f, real_mask, real_entropy = real_stats if real_stats is not None else real_statistics(real)
    out = {"empty_bar_rate": float(1 - fake_mask.mean()), "empty_bar_rate_real": float(1 - real_mask.mean()),
           "pc_histogram_entropy": pc_histogram_entropy(fake), "pc_histogram_entropy_real": real_entropy}
    overlaps = []
    for name in FEATURES:
        out[name] = float(fake_f[name].mean()) if len(fake_f[name]) else 0.0
        out[f"{name}_real"] = float(real_f[name].mean()) if len(real_f[name]) else 0.0
        oa, kl = overlap_and_kl(real_f[name], fake_f[name], seed=seed)
        out[f"oa_{name}"], out[f"kl_{name}"] = oa, kl
        overlaps.append(oa)
    out["music_overlap"] = float(np.mean(overlaps))
    return out
