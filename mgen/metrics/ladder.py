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

Expected, and checked by `check_order`: coverage held_out ~ memoriser > k64 > k16 > k4 > k1; every
single repeated bar below 0.05 coverage (diverse music) and collapsed; held_out and memoriser not
collapsed nor failed; noise low precision and failed; the memoriser far above held_out on
memorisation; motif_j ranked by modes_captured, motif_8 not collapsed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mgen.data import BarDataset
from mgen.data.split import split_parts

REFERENCE_MAX = 2000
LADDER_SHARES = (0.4, 0.3, 0.3)  # training, reference, fresh (held-out) pieces: N = 1000 fits bach
COLUMNS = ("coverage", "precision", "recall", "density", "frechet_distance", "distinct_ratio", "diversity",
           "memorisation", "music_overlap", "modes_captured", "collapsed", "failed")


@dataclass
class LadderData:
    train: np.ndarray  # (T, 16, 128) bool
    reference: np.ndarray  # (R, 16, 128) bool, R = min(reference part, REFERENCE_MAX)
    fresh: np.ndarray  # (n, 16, 128) bool
    modes: np.ndarray | None  # motifs: (K, 16, 128) clean motifs


def ladder_data(ds: BarDataset, n: int, seed: int = 0) -> LadderData:
    train_idx, ref_idx, fresh_idx = split_parts(ds.piece, LADDER_SHARES)
    rng = np.random.default_rng(seed)
    ref = ds.x[np.sort(rng.choice(ref_idx, min(REFERENCE_MAX, len(ref_idx)), replace=False))]
    fresh = ds.x[rng.choice(fresh_idx, min(n, len(fresh_idx)), replace=False)]
    return LadderData(ds.x[train_idx], ref, fresh, ds.modes)


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
    return out


def run_ladder(ds: BarDataset, n: int, score=None, seed: int = 0):
    """A DataFrame, one row a generator, of the ladder's columns; score(fake, real, train, modes) -> dict."""
    import pandas as pd

    from mgen.metrics import evaluate

    score = score or (lambda fake, real, train, modes: evaluate(fake, real, kind="bars", train=train, modes=modes))
    data = ladder_data(ds, n, seed)
    rows = {}
    for name, fake in generators(data, seed).items():
        metrics = score(fake, data.reference, data.train, data.modes)
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
    motif_rows = [r for r in frame.index if r.startswith("motif_")]
    if motif_rows:
        modes = frame.loc[motif_rows, "modes_captured"].tolist()
        covers = frame.loc[motif_rows, "coverage"].tolist()
        checks.append(("motifs: motif_1 < motif_2 < motif_4 < motif_8 by modes and by coverage",
                       modes == sorted(set(modes)) and covers == sorted(covers) and len(set(covers)) == len(covers)))
        checks.append(("motifs: motif_8 not collapsed", frame.loc[motif_rows[-1], "collapsed"] == 0))
    return checks
