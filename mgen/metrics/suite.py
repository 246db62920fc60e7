"""evaluate: every metric of a set of generated samples against real ones, as one flat dict."""
from __future__ import annotations

import math

import numpy as np

from mgen.metrics.collapse import duplicates, is_collapsed, is_failed, memorisation, z_sensitivity
from mgen.metrics.decoding import decode_bars, is_monophonic
from mgen.metrics.embedding import BarEmbedding
from mgen.metrics.frechet import frechet_distance
from mgen.metrics.knn import as_matrix, kth_neighbour_radius, prdc
from mgen.metrics.modes import mixture_modes, motif_modes
from mgen.metrics.music import music_statistics
from mgen.metrics.ndb import ndb_jsd

NEAR_DUPLICATE_CELLS = 2  # bars: a near duplicate differs in at most this many cells
NEAR_DUPLICATE_POINTS = 0.1  # points: near when closer than this share of the median real NN distance
_ZERO_PRDC = {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def prdc_with_misses(real, fake, ok: np.ndarray, k: int, distinct: bool = True) -> dict[str, float]:
    """PRDC of the generated rows marked `ok` (non-empty bars); the others count as misses.

    An empty bar has no musical descriptors and lies outside the data (data sets hold no empty bars):
    it is in no real ball and covers nothing, so precision and density are shares of all generated
    bars, the empty ones counted as outside.
    """
    if ok.sum() <= k:
        return dict(_ZERO_PRDC)
    out = prdc(real, fake[ok], k=k, distinct=distinct)
    share = float(ok.mean())
    out["precision"] *= share
    out["density"] *= share
    return out


def _evaluate_bars(fake, real, same_condition, modes, train, monophonic, k, ndb_bins, seed) -> dict[str, float]:
    real = np.asarray(real) > 0.5
    mono = is_monophonic(real) if monophonic is None else monophonic
    fake = decode_bars(fake, mono)
    embed = BarEmbedding(real)
    e_real, _ = embed(real)
    e_fake, ok = embed(fake)
    out = prdc_with_misses(e_real, e_fake, ok, k)
    roll = prdc_with_misses(real.reshape(len(real), -1), fake.reshape(len(fake), -1), ok, k, distinct=False)
    out["roll_coverage"], out["roll_precision"] = roll["coverage"], roll["precision"]
    out["frechet_distance"] = frechet_distance(e_real, e_fake[ok])
    out.update(ndb_jsd(e_real, e_fake[ok], bins=ndb_bins, seed=seed, extra_fake=int((~ok).sum())))
    near = math.sqrt(NEAR_DUPLICATE_CELLS)
    out.update(duplicates(fake, near))
    real_dups = duplicates(real[: len(fake)], near)  # the same N, so the rates compare
    out["near_duplicate_rate_real"], out["distinct_ratio_real"] = real_dups["near_duplicate_rate"], real_dups["distinct_ratio"]
    if same_condition is not None:
        same = np.asarray(same_condition)
        groups = decode_bars(same.reshape(-1, *same.shape[-2:]), mono)
        e_same = embed(groups)[0].reshape(*same.shape[:2], -1)
        out["z_sensitivity"] = z_sensitivity(e_same, e_real)
    else:
        out["z_sensitivity"] = float("nan")
    out.update(music_statistics(fake, real, seed=seed))
    if train is not None:
        out["memorisation"] = memorisation(fake, train, NEAR_DUPLICATE_CELLS)
        out["memorisation_real"] = memorisation(real, train, NEAR_DUPLICATE_CELLS)
    if modes is not None:
        out.update(motif_modes(fake, modes))
    return out


def _evaluate_points(fake, real, same_condition, modes, mode_std, k, ndb_bins, seed) -> dict[str, float]:
    fake, real = np.asarray(fake, np.float32), np.asarray(real, np.float32)
    out = prdc(real, fake, k=k)
    out.update(ndb_jsd(real, fake, bins=ndb_bins, seed=seed))
    near = NEAR_DUPLICATE_POINTS * float(kth_neighbour_radius(as_matrix(real), 1).median())
    out.update(duplicates(fake, near))
    out["near_duplicate_rate_real"] = duplicates(real[: len(fake)], near)["near_duplicate_rate"]
    out["z_sensitivity"] = (z_sensitivity(np.asarray(same_condition), real) if same_condition is not None
                            else float("nan"))
    if modes is not None:
        out.update(mixture_modes(fake, modes, mode_std))
    return out


def evaluate(fake, real, kind: str = "bars", same_condition=None, modes=None, mode_std: float = 0.0,
             train=None, monophonic: bool | None = None, k: int = 5, ndb_bins: int = 50,
             seed: int = 0) -> dict[str, float]:
    """All metrics of generated samples `fake` against `real` ones, as a flat dict of floats.

    kind: "bars" ((N, 16, 128) probabilities or notes, decoded by mgen/metrics/decoding.py, monophonic
    when the real bars are unless `monophonic` says otherwise; k-NN metrics, NDB and the Frechet
    distance on bar embeddings, mgen/metrics/embedding.py) or "points" ((N, 2), Euclidean).
    real: the reference (held-out bars in a trial). train: the training bars, for `memorisation`.
    same_condition: (n_conditions, n_z, ...) outputs for z-sensitivity (None skips it).
    modes: known modes (motif bars, or mixture centres with mode_std) for the synthetic sets.
    """
    if kind == "bars":
        out = _evaluate_bars(fake, real, same_condition, modes, train, monophonic, k, ndb_bins, seed)
        empty = out["empty_bar_rate"]
    elif kind == "points":
        out = _evaluate_points(fake, real, same_condition, modes, mode_std, k, ndb_bins, seed)
        empty = 0.0
    else:
        raise ValueError(f"kind must be 'bars' or 'points', not {kind!r}")
    out["collapsed"] = float(is_collapsed(out["diversity"], out["z_sensitivity"]))
    out["failed"] = float(is_failed(empty, out["precision"]))
    out["healthy_coverage"] = out["coverage"] - float(out["collapsed"] or out["failed"])
    return {name: float(value) for name, value in out.items()}

