"""Notes to bars: piano rolls of 16 sixteenth steps x 128 pitches, previous bars, chord labels, keys.

A *piece* is a melody (top voice) and the notes of all voices, both as (onset, end, pitch) rows in
quarter notes, plus its measures as (offset, actual length, nominal length) rows in quarter notes.
Every source (music21 corpora, MIDI files, synthetic melodies) is turned into pieces, and pieces into
bars here, so the rules below hold for all of them:

- A bar is 4 quarter notes (16 sixteenth steps). A 4/4 or 2/2 measure is one bar; two consecutive
  full 2/4 measures make one bar. Measures in other meters (3/4, 6/8, ...) are skipped and counted
  as `skipped_meter`: squeezing them into 16 steps would distort the rhythm.
- Consecutive pieces of one measure split at a repeat sign (3 beats + 1 beat) are joined into the
  full measure. A measure still shorter than its time signature (an opening pickup, an incomplete
  last bar) is skipped and counted as `skipped_partial`; so is a lone 2/4 measure with no partner.
- A bar with no melody notes is not a training example (counted as `skipped_empty`), but it is still
  the previous bar of the bar after it. The first bar of a run has an all-zero previous bar.
- Onsets and ends are rounded to the sixteenth grid; a note lasts at least one step. A note followed
  at once by the same pitch is shortened by one step so that the roll keeps both notes apart
  (two sixteenth notes of the same pitch still merge: the binary roll cannot tell them apart).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEPS = 16  # sixteenth steps per bar
PITCHES = 128  # MIDI pitches
STEPS_PER_QUARTER = 4
BAR_QUARTERS = STEPS // STEPS_PER_QUARTER
CHORD_DIM = 13  # 12 root pitch classes (one-hot) + minor flag


@dataclass
class Piece:
    name: str
    melody: np.ndarray  # (n, 3) onset, end (quarters), MIDI pitch: the top voice
    harmony: np.ndarray  # (m, 3) all voices' notes, for chord labels and polyphonic bars
    measures: np.ndarray  # (k, 3) offset, actual length, nominal length (quarters)

    def transposed(self, semitones: int) -> "Piece | None":
        """The piece shifted by `semitones`, or None if a note would leave the MIDI range."""
        if semitones == 0:
            return self
        mel, har = self.melody.copy(), self.harmony.copy()
        mel[:, 2] += semitones
        har[:, 2] += semitones
        for notes in (mel, har):
            if len(notes) and (notes[:, 2].min() < 0 or notes[:, 2].max() >= PITCHES):
                return None
        return Piece(f"{self.name}{semitones:+d}", mel, har, self.measures)


def render_roll(notes: np.ndarray, n_steps: int) -> np.ndarray:
    """Polyphonic binary roll (n_steps, 128) of (onset, end, pitch) rows on the sixteenth grid."""
    roll = np.zeros((n_steps, PITCHES), dtype=bool)
    if len(notes) == 0:
        return roll
    starts = np.round(notes[:, 0] * STEPS_PER_QUARTER).astype(int)
    ends = np.maximum(np.round(notes[:, 1] * STEPS_PER_QUARTER).astype(int), starts + 1)
    pitches = notes[:, 2].astype(int)
    order = np.lexsort((starts, pitches))
    for i, j in zip(order[:-1], order[1:]):
        # Same pitch again at or before this note's end: stop one step early to keep them apart.
        if pitches[i] == pitches[j] and ends[i] >= starts[j]:
            ends[i] = starts[j] - 1 if starts[j] - starts[i] >= 2 else starts[j]
    for s, e, p in zip(starts[order], ends[order], pitches[order]):
        roll[max(s, 0):min(e, n_steps), p] = True
    return roll


def skyline(roll: np.ndarray) -> np.ndarray:
    """Keep only the highest active pitch at each step (the top voice)."""
    out = np.zeros_like(roll)
    active = roll.any(axis=1)
    top = PITCHES - 1 - np.argmax(roll[:, ::-1], axis=1)
    out[np.nonzero(active)[0], top[active]] = True
    return out


# Chord templates: root weighs most so that C-E reads as C major rather than A minor.
_TRIADS = {"major": (0, 4, 7), "minor": (0, 3, 7)}
_TONE_WEIGHTS = (1.0, 0.8, 0.8)


def _chord_templates() -> np.ndarray:
    rows = []
    for quality in ("major", "minor"):
        for root in range(12):
            t = np.zeros(12)
            for interval, w in zip(_TRIADS[quality], _TONE_WEIGHTS):
                t[(root + interval) % 12] = w
            rows.append(t)
    return np.stack(rows)  # (24, 12): 12 major roots then 12 minor roots


_TEMPLATES = _chord_templates()


def chord_label(pc_weights: np.ndarray) -> np.ndarray:
    """13-value chord label (root one-hot, minor flag) of the best major/minor triad; zeros if silent."""
    label = np.zeros(CHORD_DIM, dtype=np.float32)
    if pc_weights.sum() <= 0:
        return label
    best = int(np.argmax(_TEMPLATES @ pc_weights))
    label[best % 12] = 1.0
    label[12] = float(best >= 12)
    return label


def pitch_class_weights(roll: np.ndarray) -> np.ndarray:
    """Duration-weighted pitch-class histogram (12,) of a roll (steps, 128)."""
    per_pitch = roll.sum(axis=0).astype(float)
    return np.bincount(np.arange(PITCHES) % 12, weights=per_pitch, minlength=12)


def key_shift_to_c(notes: np.ndarray) -> int:
    """Semitones that move the piece's estimated key to C major or A minor (in -6..5).

    The key is estimated as music21's `analyze('key')` does by default: correlation of the
    duration-weighted pitch-class histogram with the Aarden-Essen key profiles (it agreed with
    `analyze('key')` on 25 of 25 chorales checked).
    """
    if len(notes) == 0:
        return 0
    from music21.analysis.discrete import AardenEssen

    profiles = AardenEssen()
    hist = np.bincount(notes[:, 2].astype(int) % 12, weights=notes[:, 1] - notes[:, 0], minlength=12)
    best, best_r = (0, "major"), -np.inf
    for mode in ("major", "minor"):
        profile = np.asarray(profiles.getWeights(mode), dtype=float)
        for tonic in range(12):
            r = np.corrcoef(hist, np.roll(profile, tonic))[0, 1]
            if r > best_r:
                best, best_r = (tonic, mode), r
    tonic, mode = best
    target = 0 if mode == "major" else 9
    return int((target - tonic + 6) % 12 - 6)


@dataclass
class PieceBars:
    bars: np.ndarray  # (n, 16, 128) bool
    prev: np.ndarray  # (n, 16, 128) bool, the bar before each (zeros at the start of a run)
    chords: np.ndarray  # (n, 13) float32
    counts: dict


def _complete_measures(measures: np.ndarray, counts: dict) -> list[tuple[float, float]]:
    """(offset, nominal length) of full measures; pieces of a measure split at a repeat sign are joined."""
    full, pending = [], None  # pending: (offset, length so far, nominal) of an incomplete measure
    for offset, length, nominal in measures:
        if pending and pending[2] == nominal and abs(pending[0] + pending[1] - offset) < 1e-6 \
                and pending[1] + length <= nominal + 1e-6:
            offset, length = pending[0], pending[1] + length
        elif pending:
            counts["skipped_partial"] += 1
        pending = None
        if abs(length - nominal) < 1e-6:
            full.append((offset, nominal))
        elif length < nominal:
            pending = (offset, length, nominal)
        else:
            counts["skipped_partial"] += 1  # longer than its time signature: malformed, not guessed at
    counts["skipped_partial"] += pending is not None
    return full


def bar_starts(measures: np.ndarray) -> tuple[list[int], dict]:
    """Start steps of the 16-step bars a piece's measures make, and counts of skipped measures."""
    counts = {"skipped_partial": 0, "skipped_meter": 0}
    starts, group_start, group_len = [], None, 0.0
    for offset, nominal in _complete_measures(measures, counts):
        contiguous = group_start is not None and abs(group_start + group_len - offset) < 1e-6
        if group_start is not None and not contiguous:
            counts["skipped_partial"] += 1  # a lone 2/4 measure
            group_start, group_len = None, 0.0
        if nominal <= 0 or nominal > BAR_QUARTERS or BAR_QUARTERS % nominal != 0:
            counts["skipped_meter"] += 1
            continue
        if group_start is None:
            group_start = offset
        group_len += nominal
        if abs(group_len - BAR_QUARTERS) < 1e-6:
            starts.append(int(round(group_start * STEPS_PER_QUARTER)))
            group_start, group_len = None, 0.0
    counts["skipped_partial"] += group_start is not None
    return starts, counts


def piece_to_bars(piece: Piece, polyphonic: bool = False) -> PieceBars:
    """Cut a piece into bars by the rules in this module's docstring."""
    starts, counts = bar_starts(piece.measures)
    counts["skipped_empty"] = 0
    ends = [piece.melody[:, 1].max() if len(piece.melody) else 0.0,
            piece.measures[:, :2].sum(1).max() if len(piece.measures) else 0.0]
    n_steps = int(np.ceil(max(ends) * STEPS_PER_QUARTER)) + STEPS
    full = render_roll(piece.harmony, n_steps)
    voice = full if polyphonic else skyline(render_roll(piece.melody, n_steps))
    bars, prevs, chords = [], [], []
    last_start = None
    for s in starts:
        bar = voice[s:s + STEPS]
        prev = voice[s - STEPS:s] if last_start == s - STEPS else np.zeros_like(bar)
        last_start = s
        if not bar.any():
            counts["skipped_empty"] += 1
            continue
        bars.append(bar)
        prevs.append(prev)
        chords.append(chord_label(pitch_class_weights(full[s:s + STEPS])))
    empty = np.zeros((0, STEPS, PITCHES), dtype=bool)
    return PieceBars(
        np.stack(bars) if bars else empty,
        np.stack(prevs) if prevs else empty,
        np.stack(chords) if chords else np.zeros((0, CHORD_DIM), np.float32),
        counts,
    )
