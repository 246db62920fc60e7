"""Does a generator follow its condition? Adherence of bars to their chord labels and previous bars.

Each measure m(bar, condition) is computed twice: with every bar's own condition (`true`) and with the
conditions of all the other bars of the set (`shuffled`: the mean over every pair i != j, which is what a
random shuffle of the conditions gives on average, without a shuffle's noise). A generator that ignores
its condition scores the same on both, so its gain, true minus shuffled, is about 0 whatever its music.
Real held-out bars with their own conditions give the `_real` gain: what following the condition looks
like in the data. `chord_adherence` and `prev_adherence` are the generated gains over the real ones,
averaged over each condition's two measures: about 0 for a condition-blind G, about 1 for one that
follows its condition as the data do (and above 1 for one that follows it more slavishly).

Chord (the 13-value label: root one-hot and minor flag; its triad is the root, the third and the fifth):
- `ctnctr`: chord tone to non-chord tone ratio, CTnCTR (Yeh et al. 2020, "Automatic melody harmonization
  with triad chords: a comparative study", arXiv:2001.02360; J. New Music Research 50(1), 2021):
  (c + p) / (c + n) over a bar's notes, c chord tones, n non-chord tones, p the "proper" non-chord
  tones: those whose following note is at most 2 semitones away and a chord tone (a passing or
  neighbour tone that resolves by step). Notes are onsets; a note's successor is the top pitch of the
  next onset in the bar.
- `tonal_distance`: Euclidean distance between the 6-D tonal centroids (Harte, Sandler & Gasser 2006,
  "Detecting harmonic change in musical audio", ACM AMCMM: fifths, minor thirds and major thirds
  circles, radii 1, 1, 0.5) of the bar's duration-weighted pitch-class profile and of the chord's triad.
  Lower is closer; its gain is shuffled minus true.
Previous bar (bars with a silent previous bar, the first of a run, are left out):
- `bar_line_step`: share of bars whose first note is at most 2 semitones from the previous bar's last
  (top pitch of the first and the last sounding step): stepwise melodic continuity across the bar line.
- `groove_similarity`: 1 - mean XOR of the two bars' 16-step onset patterns, the grooving pattern
  similarity of Wu & Yang 2020 ("The Jazz Transformer on the front line", ISMIR, section 5).
- `prev_copy_rate` (no gain): share of bars that copy their previous bar (at most 2 cells differ), beside
  the real bars' share. Copying the condition maximises groove similarity; this says it is a copy.
"""
from __future__ import annotations

import warnings

import numpy as np

from mgen.metrics.music import pitch_class_counts

SIGNIFICANT = 3.0  # standard errors: a real gain smaller than this is no gain (see shows_gain)
STEP = 2  # semitones: at most this far is a step (Yeh et al.'s proper non-chord tone; continuity)
CHORD_MEASURES = ("ctnctr", "tonal_distance")
PREV_MEASURES = ("bar_line_step", "groove_similarity")
LOWER_IS_CLOSER = ("tonal_distance",)


def triads(chords) -> tuple[np.ndarray, np.ndarray]:
    """(M, 12) float chord-tone masks of 13-value labels, and the (M,) mask of labels that name a chord."""
    chords = np.asarray(chords, np.float32)
    named = chords[:, :12].max(axis=1) > 0
    root = chords[:, :12].argmax(axis=1)
    third = np.where(chords[:, 12] > 0.5, 3, 4)
    tones = np.zeros((len(chords), 12), np.float32)
    for offset in (np.zeros_like(root), third, np.full_like(root, 7)):
        tones[np.arange(len(chords)), (root + offset) % 12] = 1.0
    return tones * named[:, None], named


def _onsets(x: np.ndarray) -> np.ndarray:
    prev = np.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :-1]
    return x & ~prev


def _top(rows: np.ndarray) -> np.ndarray:
    """Top active pitch of each (…, 128) row; -1 where none is active."""
    any_on = rows.any(axis=-1)
    return np.where(any_on, 127 - rows[..., ::-1].argmax(axis=-1), -1)


def note_transitions(bars) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: (N, 12) note counts by pitch class, and (N, 12, 12) counts of notes of pitch class a whose
    next note (top pitch of the next onset step) is of class b and at most STEP semitones away."""
    x = np.asarray(bars) > 0.5
    on = _onsets(x)
    bar, when, pitch = np.nonzero(on)
    counts = pitch_class_counts(on)
    steps_on = on.any(axis=2)  # (N, 16)
    # the next onset step after each step: a reverse running minimum of the onset steps (16 = none)
    at = np.where(steps_on, np.arange(16), 16)
    following = np.minimum.accumulate(np.pad(at, ((0, 0), (0, 1)), constant_values=16)[:, :0:-1], axis=1)[:, ::-1]
    tops = np.pad(_top(on), ((0, 0), (0, 1)), constant_values=-1)  # (N, 17): the top onset pitch of each step
    nxt = tops[np.arange(len(x))[:, None], following]  # (N, 16): the next note of every step's notes
    then = nxt[bar, when]
    near = (then >= 0) & (np.abs(pitch - then) <= STEP)
    moves = np.zeros((len(x), 12, 12))
    np.add.at(moves, (bar[near], pitch[near] % 12, then[near] % 12), 1)
    return counts, moves


def ctnctr_pairs(bars, chords) -> np.ndarray:
    """(N, M) CTnCTR of bar i under chord j; NaN for an empty bar or an unnamed chord."""
    counts, moves = note_transitions(bars)
    tones, named = triads(chords)
    chord_tones = counts @ tones.T  # (N, M)
    non_chord = counts.sum(axis=1, keepdims=True) - chord_tones
    # proper non-chord tones: from a class outside chord j to a class inside it
    proper = np.einsum("iaj,ja->ij", moves.reshape(len(counts), 12, 12) @ tones.T, 1 - tones)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (chord_tones + proper) / (chord_tones + non_chord)
    out[:, ~named] = np.nan
    return out


def _centroid_basis() -> np.ndarray:
    """Harte et al.'s (6, 12) tonal centroid transform."""
    angle = np.arange(12)[None, :] * np.array([[7 / 6], [7 / 6], [3 / 2], [3 / 2], [2 / 3], [2 / 3]]) * np.pi
    radius = np.array([1, 1, 1, 1, 0.5, 0.5])[:, None]
    return radius * np.where(np.arange(6)[:, None] % 2 == 0, np.sin(angle), np.cos(angle))


_PHI = _centroid_basis()


def tonal_centroids(profiles: np.ndarray) -> np.ndarray:
    """(N, 6) tonal centroids of (N, 12) pitch-class profiles (L1-normalised first); NaN for silent ones."""
    total = profiles.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (profiles / total) @ _PHI.T


def tonal_distance_pairs(bars, chords) -> np.ndarray:
    """(N, M) distance of bar i's tonal centroid from chord j's; NaN for an empty bar or an unnamed chord."""
    x = np.asarray(bars) > 0.5
    tones, named = triads(chords)
    a, b = tonal_centroids(pitch_class_counts(x)), tonal_centroids(tones)
    out = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    out[:, ~named] = np.nan
    return out


def bar_line_step_pairs(bars, prevs) -> np.ndarray:
    """(N, M): 1 when bar i's first note is at most STEP semitones from previous bar j's last; NaN when
    either is silent."""
    x, p = np.asarray(bars) > 0.5, np.asarray(prevs) > 0.5
    on = _onsets(x)
    first = np.where(x.any(axis=(1, 2)), _top(on[np.arange(len(x)), on.any(axis=2).argmax(axis=1)]), -1)
    sounding = p.any(axis=2)  # (M, 16)
    last_step = 15 - sounding[:, ::-1].argmax(axis=1)
    last = np.where(sounding.any(axis=1), _top(p[np.arange(len(p)), last_step]), -1)
    out = (np.abs(first[:, None] - last[None, :]) <= STEP).astype(float)
    out[first < 0] = np.nan
    out[:, last < 0] = np.nan
    return out


def groove_similarity_pairs(bars, prevs) -> np.ndarray:
    """(N, M): 1 - mean XOR of bar i's and previous bar j's onset patterns; NaN when either is silent."""
    g = _onsets(np.asarray(bars) > 0.5).any(axis=2).astype(float)  # (N, 16)
    h = _onsets(np.asarray(prevs) > 0.5).any(axis=2).astype(float)
    out = 1.0 - (g @ (1 - h).T + (1 - g) @ h.T) / g.shape[1]
    out[~g.any(axis=1)] = np.nan
    out[:, ~h.any(axis=1)] = np.nan
    return out


PAIRS = {"ctnctr": (ctnctr_pairs, "chord"), "tonal_distance": (tonal_distance_pairs, "chord"),
         "bar_line_step": (bar_line_step_pairs, "prev"), "groove_similarity": (groove_similarity_pairs, "prev")}


def true_and_shuffled(pairs: np.ndarray) -> tuple[float, float, float]:
    """(mean of the diagonal, mean off the diagonal, standard error of the gain), NaNs left out; NaN where
    nothing is left. The gain's standard error is that of the per-bar differences between a bar's value
    under its own condition and its mean under the others'."""
    off_diag = ~np.eye(len(pairs), dtype=bool)
    diag, off = np.diag(pairs), pairs[off_diag]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row with no valid pair is NaN, left out below
        per_bar = diag - np.nanmean(np.where(off_diag, pairs, np.nan), axis=1)
    mean = lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")  # noqa: E731
    valid = per_bar[np.isfinite(per_bar)]
    se = float(valid.std(ddof=1) / np.sqrt(len(valid))) if len(valid) > 1 else float("nan")
    return mean(diag), mean(off), se


def measures(bars, prev=None, chord=None) -> dict[str, float]:
    """For each measure whose condition is given: `<m>` (true conditions), `<m>_shuffled`, `<m>_gain`
    (true minus shuffled; for tonal_distance, shuffled minus true, so a positive gain is always closer)
    and `<m>_gain_se` (its standard error); with previous bars, also `prev_copy_rate`."""
    out = {} if prev is None else {"prev_copy_rate": prev_copy_rate(bars, prev)}
    for name, (pairs, needs) in PAIRS.items():
        cond = chord if needs == "chord" else prev
        if cond is None:
            continue
        true, shuffled, se = true_and_shuffled(pairs(bars, cond))
        out[name], out[f"{name}_shuffled"], out[f"{name}_gain_se"] = true, shuffled, se
        out[f"{name}_gain"] = shuffled - true if name in LOWER_IS_CLOSER else true - shuffled
    return out


def shows_gain(real: dict[str, float], name: str) -> bool:
    """Do the real bars follow this measure of their condition: a gain more than SIGNIFICANT standard
    errors above 0? (Bach's chorale melodies, almost all in quarter notes, show no rhythmic dependence
    on the previous bar: a ratio to their gain of about 0 would be noise.)"""
    gain, se = real.get(f"{name}_gain", float("nan")), real.get(f"{name}_gain_se", float("nan"))
    return bool(gain > SIGNIFICANT * se and gain > 0)


def adherence(fake: dict[str, float], real: dict[str, float]) -> dict[str, float]:
    """chord_adherence, prev_adherence: the mean over each condition's measures of generated gain over
    real gain, over the measures whose real gain `shows_gain` (NaN when none does, or the condition is
    absent; a generated gain that cannot be measured, as for silence, counts as 0)."""
    out = {}
    for summary, names in (("chord_adherence", CHORD_MEASURES), ("prev_adherence", PREV_MEASURES)):
        # a generated set with nothing to measure (silence) follows no condition: its gain counts as 0
        ratios = [np.nan_to_num(fake[f"{n}_gain"]) / real[f"{n}_gain"] for n in names
                  if f"{n}_gain" in fake and shows_gain(real, n)]
        out[summary] = float(np.mean(ratios)) if ratios else float("nan")
    return out


def prev_copy_rate(bars, prevs, near_cells: int = 2) -> float:
    """Share of bars (after a sounding previous bar) that differ from it in at most near_cells cells."""
    x, p = np.asarray(bars) > 0.5, np.asarray(prevs) > 0.5
    sounding = p.any(axis=(1, 2))
    if not sounding.any():
        return float("nan")
    return float(((x != p).sum(axis=(1, 2))[sounding] <= near_cells).mean())


def condition_metrics(fake_bars, fake_conditions, real_bars, real_conditions, real_measures=None) -> dict[str, float]:
    """Adherence metrics of generated bars under their conditions (prev, chord), each measure with its
    `_real` value from the real bars under theirs. real_measures: `measures(real_bars, *real_conditions)`
    computed before."""
    real = real_measures if real_measures is not None else measures(real_bars, *real_conditions)
    fake = measures(fake_bars, *fake_conditions)
    kept = lambda k: not k.endswith(("_shuffled", "_se"))  # noqa: E731
    out = {k: v for k, v in fake.items() if kept(k)}
    out.update({f"{k}_real": v for k, v in real.items() if kept(k)})
    out.update(adherence(fake, real))
    return out
