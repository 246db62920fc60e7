"""The metric sanity ladder: generators whose right order is known, built from a data set, scored by `evaluate`.

`mgen metrics check DATA` runs it. The data set is split by piece into a training part, 40% (what a
memoriser copies and the K-bar generators draw from), a reference part, 30% (the "real" set every
generator is scored against) and a fresh part, 30% (held-out real bars: a generator that generalises
perfectly). The reference is every bar of its part (at most REFERENCE_MAX), as in a trial, whose
reference is every held-out bar whatever the budget: a reference of only n bars has wide k-NN balls
at small n, and one typical bar then sits inside many of them. Generators, each giving n bars:

- held_out: fresh real bars                      - memoriser: training bars, copied
- k64, k16, k4, k1: K distinct training bars, repeated (k1 is single-bar collapse)
- hub_roll, hub_embedding: the single bar (a training bar or one short note) that lies inside the
  most reference k-NN balls, in raw-roll space and in the embedding: the worst case for coverage
- random_melody: one random pitch of the data's range at a time, random durations
- random_cells: every cell on with probability 0.1 (noise)
- silence: empty bars
- motifs only: motif_j: the clean planted motifs 1..j, for j = 1, 2, 4, 8 (modes must rank)
Every generator is scored under the conditions (previous bar, chord) of the fresh bars, the reference
under its own, so each row also has the adherence metrics (mgen/metrics/adherence.py). Three more
generators follow a condition on purpose:
- blind: the fresh bars, each under another fresh bar's conditions (real music, condition ignored)
- chord_tones: one tone of the bar's chord a beat, in one octave (follows the chord slavishly)
- copy_prev: the previous bar, copied; hold_prev: the previous bar's last pitch held for the whole bar

Expected, and checked by `check_order`: coverage held_out ~ memoriser > k64 > k16 > k4 > k1; every
single repeated bar below 0.05 coverage (diverse music) and collapsed; held_out and memoriser not
collapsed nor failed; noise low precision and failed; the memoriser far above held_out on
memorisation; motif_j ranked by modes_captured, motif_8 not collapsed. Adherence: held_out about 1
(0.75-1.25), blind and the unconditional generators about 0 (|x| < 0.25); chord_tones above held_out on
chord_adherence, yet far below it on coverage; hold_prev above held_out on prev_adherence; copy_prev
copying its previous bar (prev_copy_rate 1) where held-out bars rarely do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mgen.data import BarDataset
from mgen.data.split import split_parts

REFERENCE_MAX = 2000
LADDER_SHARES = (0.4, 0.3, 0.3)  # training, reference, fresh (held-out) pieces: N = 1000 fits bach
COLUMNS = ("coverage", "precision", "recall", "density", "frechet_distance", "distinct_ratio", "diversity",
           "memorisation", "music_overlap", "modes_captured", "collapsed", "failed", "chord_adherence",
           "prev_adherence", "prev_copy_rate")


@dataclass
class LadderData:
    train: np.ndarray  # (T, 16, 128) bool
    reference: np.ndarray  # (R, 16, 128) bool, R = min(reference part, REFERENCE_MAX)
    fresh: np.ndarray  # (n, 16, 128) bool
    modes: np.ndarray | None  # motifs: (K, 16, 128) clean motifs
    reference_conditions: tuple[np.ndarray, np.ndarray]  # (previous bars, chord labels) of the reference
    fresh_conditions: tuple[np.ndarray, np.ndarray]  # ... of the fresh bars: every generator's conditions


def ladder_data(ds: BarDataset, n: int, seed: int = 0) -> LadderData:
    train_idx, ref_idx, fresh_idx = split_parts(ds.piece, LADDER_SHARES)
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.choice(ref_idx, min(REFERENCE_MAX, len(ref_idx)), replace=False))
    fresh = rng.choice(fresh_idx, min(n, len(fresh_idx)), replace=False)
    return LadderData(ds.x[train_idx], ds.x[ref], ds.x[fresh], ds.modes, (ds.prev[ref], ds.chord[ref]),
                      (ds.prev[fresh], ds.chord[fresh]))


def repeat_to(bars: np.ndarray, n: int) -> np.ndarray:
    return np.resize(bars, (n, *bars.shape[1:]))


def distinct_bars(bars: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct bars drawn from `bars` (in random order; fewer if fewer are distinct)."""
    order = rng.permutation(len(bars))
    rows = bars[order].reshape(len(bars), -1)
    if rows.dtype == bool:  # 8 cells a byte: the same rows compare equal, and a row is 256 bytes, not 2,048
        rows = np.packbits(rows, axis=1)
    rows = np.ascontiguousarray(rows)
    # Each row as one opaque value: np.unique over a 1-D array of them gives the same first occurrences as
    # axis=0, which sorts a structured view field by field (10,000 motif bars: 0.01 s against 4.8 s).
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    pick = order[np.sort(first)][:k]
    return bars[pick]


def short_notes(low: int, high: int) -> np.ndarray:
    """One sixteenth note at each pitch low..high, at the first step: the sparsest non-empty bars."""
    bars = np.zeros((high - low + 1, 16, 128), bool)
    bars[np.arange(len(bars)), 0, np.arange(low, high + 1)] = True
    return bars


def single_bar_coverage(candidates: np.ndarray, reference: np.ndarray, k: int = 5) -> np.ndarray:
    """Coverage each candidate would score alone (repeated), in the space of `candidates`/`reference` rows."""
    import torch

    from mgen.metrics.knn import as_matrix, kth_neighbour_radius, pairwise_distances

    ref = as_matrix(reference)
    radii = kth_neighbour_radius(ref, k)
    d = pairwise_distances(as_matrix(candidates), ref)  # (C, R)
    return (d < radii[None, :]).float().mean(dim=1).numpy() if len(d) else torch.zeros(0).numpy()


def hub_bars(data: LadderData) -> dict[str, np.ndarray]:
    """The most hub-like single bar in raw-roll space and in the embedding (see module docstring)."""
    from mgen.metrics.embedding import BarEmbedding

    pitches = np.nonzero(data.train.any(axis=(0, 1)))[0]
    rng = np.random.default_rng(1)
    pool = np.concatenate([distinct_bars(data.train, 2000, rng), short_notes(int(pitches.min()), int(pitches.max()))])
    flat = lambda b: b.reshape(len(b), -1).astype(np.float32)  # noqa: E731
    raw = single_bar_coverage(flat(pool), flat(data.reference))
    embed = BarEmbedding(data.reference)
    e_pool, e_ok = embed(pool)
    e_ref, _ = embed(data.reference)
    emb = np.where(e_ok, single_bar_coverage(e_pool, e_ref), -1.0)
    return {"hub_roll": pool[int(raw.argmax())], "hub_embedding": pool[int(emb.argmax())]}


def random_melodies(n: int, low: int, high: int, rng: np.random.Generator) -> np.ndarray:
    bars = np.zeros((n, 16, 128), bool)
    for i in range(n):
        t = 0
        while t < 16:
            d = int(rng.integers(1, 5))
            bars[i, t:t + d, int(rng.integers(low, high + 1))] = True
            t += d + int(rng.random() < 0.1)  # an occasional rest
    return bars


def chord_tone_bars(chords: np.ndarray, octave: int = 60) -> np.ndarray:
    """One tone of each bar's chord a beat (root, third, fifth, root), in the octave from `octave`."""
    from mgen.metrics.adherence import triads

    tones, named = triads(chords)
    bars = np.zeros((len(chords), 16, 128), bool)
    for i in np.nonzero(named)[0]:
        classes = np.nonzero(tones[i])[0]
        root = int(chords[i, :12].argmax())
        order = sorted(classes, key=lambda c: (c - root) % 12)  # root, third, fifth
        for beat, c in enumerate(order + order[:1]):
            bars[i, 4 * beat:4 * beat + 4, octave + c] = True
    return bars


def held_last_note(prevs: np.ndarray) -> np.ndarray:
    """Each previous bar's last sounding (top) pitch, held for a whole bar; an empty bar after silence."""
    bars = np.zeros_like(prevs, dtype=bool)
    sounding = prevs.any(axis=2)
    for i in np.nonzero(sounding.any(axis=1))[0]:
        last = 15 - int(sounding[i, ::-1].argmax())
        bars[i, :, 127 - int(prevs[i, last, ::-1].argmax())] = True
    return bars


def conditional_generators(data: LadderData, seed: int = 0) -> dict[str, np.ndarray]:
    """The generators that follow (or ignore) the fresh bars' conditions on purpose (module docstring)."""
    rng = np.random.default_rng(seed + 1)
    prev, chord = data.fresh_conditions
    pitches = np.nonzero(data.train.any(axis=(0, 1)))[0]
    octave = int(np.median(pitches)) // 12 * 12
    return {"blind": data.fresh[rng.permutation(len(data.fresh))], "chord_tones": chord_tone_bars(chord, octave),
            "copy_prev": prev.astype(bool), "hold_prev": held_last_note(prev)}


def generators(data: LadderData, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(data.fresh)
    pitches = np.nonzero(data.train.any(axis=(0, 1)))[0]
    low, high = int(pitches.min()), int(pitches.max())
    out = {"held_out": data.fresh, "memoriser": data.train[rng.choice(len(data.train), n, replace=len(data.train) < n)]}
    for k in (64, 16, 4, 1):
        out[f"k{k}"] = repeat_to(distinct_bars(data.train, k, rng), n)
    out.update({name: repeat_to(bar[None], n) for name, bar in hub_bars(data).items()})
    out["random_melody"] = random_melodies(n, low, high, rng)
    out["random_cells"] = rng.random((n, 16, 128)) < 0.1
    out["silence"] = np.zeros((n, 16, 128), bool)
    if data.modes is not None:
        for j in (1, 2, 4, 8):
            if j <= len(data.modes):
                out[f"motif_{j}"] = repeat_to(data.modes[:j], n)
    out.update(conditional_generators(data, seed))
    return out


def run_ladder(ds: BarDataset, n: int, score=None, seed: int = 0):
    """A DataFrame, one row a generator, of the ladder's columns; score(fake, real, train, modes, conditions,
    real_conditions) -> dict, by default `evaluate` with one Reference for every row."""
    import pandas as pd

    from mgen.metrics import Reference, evaluate

    data = ladder_data(ds, n, seed)
    reference = Reference(data.reference, "bars", train=data.train, modes=data.modes,
                          conditions=data.reference_conditions)
    score = score or (lambda fake, real, train, modes, conditions, real_conditions:
                      evaluate(fake, reference=reference, conditions=conditions))
    rows = {}
    for name, fake in generators(data, seed).items():
        metrics = score(fake, data.reference, data.train, data.modes, data.fresh_conditions, data.reference_conditions)
        rows[name] = {c: metrics.get(c, float("nan")) for c in COLUMNS}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.attrs["n"], frame.attrs["reference"] = len(data.fresh), len(data.reference)
    return frame


SATURATED = 0.95  # coverage this high cannot rank further: on motifs, 16 distinct bars already hold every motif


def descending(values) -> bool:
    """Strictly decreasing, except that neighbours both at saturation may tie."""
    return all(a > b or (a >= SATURATED and b >= SATURATED) for a, b in zip(values, values[1:]))


def check_order(frame, diverse: bool = True) -> list[tuple[str, bool]]:
    """The expected relations of the ladder as (description, holds) pairs.

    diverse: the data set's bars are many and varied (music), so a single bar must cover almost
    nothing and held-out bars are mostly not copies of training bars; not so for planted motifs,
    whose every bar is one of K motifs.
    """
    c = frame["coverage"]
    checks = [
        ("coverage: held_out ~ memoriser (within 0.1)", abs(c["held_out"] - c["memoriser"]) <= 0.1),
        ("coverage: memoriser, held_out > k64 > k16 > k4 > k1 (ties only at saturation)",
         descending([min(c["held_out"], c["memoriser"]), c["k64"], c["k16"], c["k4"], c["k1"]])),
        ("collapsed: k1, k4, hub_roll, hub_embedding yes; held_out, memoriser no",
         all(frame.loc[g, "collapsed"] == 1 for g in ("k1", "k4", "hub_roll", "hub_embedding"))
         and all(frame.loc[g, "collapsed"] == 0 for g in ("held_out", "memoriser"))),
        ("failed: random_cells, silence yes; held_out, memoriser no",
         all(frame.loc[g, "failed"] == 1 for g in ("random_cells", "silence"))
         and all(frame.loc[g, "failed"] == 0 for g in ("held_out", "memoriser"))),
        ("precision: random_cells < 0.1", frame.loc["random_cells", "precision"] < 0.1),
    ]
    if diverse:
        checks.append(("memorisation: memoriser > held_out + 0.2",
                       frame.loc["memoriser", "memorisation"] > frame.loc["held_out", "memorisation"] + 0.2))
        checks.append(("coverage: any single repeated bar < 0.05",
                       max(c["k1"], c["hub_roll"], c["hub_embedding"]) < 0.05))
    checks += adherence_checks(frame)
    motif_rows = [r for r in frame.index if r.startswith("motif_")]
    if motif_rows:
        modes = frame.loc[motif_rows, "modes_captured"].tolist()
        covers = frame.loc[motif_rows, "coverage"].tolist()
        checks.append(("motifs: motif_1 < motif_2 < motif_4 < motif_8 by modes and by coverage",
                       modes == sorted(set(modes)) and covers == sorted(covers) and len(set(covers)) == len(covers)))
        checks.append(("motifs: motif_8 not collapsed", frame.loc[motif_rows[-1], "collapsed"] == 0))
    return checks


def adherence_checks(frame) -> list[tuple[str, bool]]:
    """The adherence metrics' expected relations (module docstring), for each condition the data follow
    (a NaN column: the real bars show no gain on any of its measures, e.g. motifs' random bar order)."""
    checks = []
    unconditional = ["blind", "memoriser", "k64", "random_melody"]
    for column, follower in (("chord_adherence", "chord_tones"), ("prev_adherence", "hold_prev")):
        a = frame[column]
        if a.isna().all():
            continue
        checks += [
            (f"{column}: held_out about 1 (0.75-1.25)", 0.75 <= a["held_out"] <= 1.25),
            (f"{column}: blind, memoriser, k64, random_melody about 0 (|x| < 0.25)",
             all(abs(a[g]) < 0.25 for g in unconditional)),
            (f"{column}: {follower} > held_out", a[follower] > a["held_out"]),
        ]
    checks.append(("chord_tones: coverage below half of held_out's",
                   frame.loc["chord_tones", "coverage"] < 0.5 * frame.loc["held_out", "coverage"]))
    checks.append(("copy_prev: prev_copy_rate 1, held_out below 0.5",
                   frame.loc["copy_prev", "prev_copy_rate"] == 1.0 and frame.loc["held_out", "prev_copy_rate"] < 0.5))
    return checks
