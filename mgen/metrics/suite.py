"""evaluate: every metric of a set of generated samples against real ones, as one flat dict; Reference: the
real side of it, computed once for many generated sets."""
from __future__ import annotations

import math

import numpy as np

from mgen.metrics.adherence import condition_metrics, measures
from mgen.metrics.collapse import (
    duplicates,
    is_collapsed,
    is_failed,
    mean_pairwise_distance,
    memorisation,
    z_sensitivity,
)
from mgen.metrics.decoding import decode_bars, is_monophonic
from mgen.metrics.embedding import BarEmbedding
from mgen.metrics.frechet import frechet_distance, moments
from mgen.metrics.knn import as_matrix, kth_neighbour_radius, prdc, real_balls
from mgen.metrics.modes import mixture_modes, motif_modes
from mgen.metrics.music import music_statistics, real_statistics
from mgen.metrics.ndb import ndb_jsd, real_bins

NEAR_DUPLICATE_CELLS = 2  # bars: a near duplicate differs in at most this many cells
NEAR_DUPLICATE_POINTS = 0.1  # points: near when closer than this share of the median real NN distance
_ZERO_PRDC = {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


class Reference:
    """The real side of `evaluate`, computed on first use and kept: a trial compares every report's samples
    with the same held-out bars, and a population's members all compare with them, so embedding the
    reference, its k-NN balls, its NDB bins, its music features and its memorisation are computed once.
    """

    def __init__(self, real, kind: str = "bars", train=None, modes=None, mode_std: float = 0.0,
                 monophonic: bool | None = None, k: int = 5, ndb_bins: int = 50, seed: int = 0, conditions=None):
        if kind not in ("bars", "points"):
            raise ValueError(f"kind must be 'bars' or 'points', not {kind!r}")
        self.kind, self.train, self.modes, self.mode_std = kind, train, modes, mode_std
        self.k, self.ndb_bins, self.seed = k, ndb_bins, seed
        self.conditions = conditions  # (prev bars, chord labels) of the real bars, for adherence
        if kind == "bars":
            self.real = np.asarray(real) > 0.5
            self.monophonic = is_monophonic(self.real) if monophonic is None else monophonic
        else:
            self.real = np.asarray(real, np.float32)
        self._cache: dict = {}

    def get(self, name: str, compute):
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    @property
    def embedding(self) -> BarEmbedding:
        return self.get("embedding", lambda: BarEmbedding(self.real))

    @property
    def embedded(self) -> np.ndarray:
        return self.get("embedded", lambda: self.embedding(self.real)[0])

    def duplicates(self, n: int, near: float) -> dict[str, float]:
        """Duplicate rates of the first n real examples: the generated set's N, so the rates compare."""
        return self.get(("duplicates", n, near), lambda: duplicates(self.real[:n], near))


def prdc_with_misses(real, fake, ok: np.ndarray, k: int, distinct: bool = True, balls=None) -> dict[str, float]:
    """PRDC of the generated rows marked `ok` (non-empty bars); the others count as misses.

    An empty bar has no musical descriptors and lies outside the data (data sets hold no empty bars):
    it is in no real ball and covers nothing, so precision and density are shares of all generated
    bars, the empty ones counted as outside.
    """
    if ok.sum() <= k:
        return dict(_ZERO_PRDC)
    out = prdc(real, fake[ok], k=k, distinct=distinct, balls=balls)
    share = float(ok.mean())
    out["precision"] *= share
    out["density"] *= share
    return out


def _evaluate_bars(fake, same_condition, ref: Reference, conditions=None) -> dict[str, float]:
    real, k = ref.real, ref.k
    fake = decode_bars(fake, ref.monophonic)
    e_real = ref.embedded
    e_fake, ok = ref.embedding(fake)
    out = prdc_with_misses(e_real, e_fake, ok, k, balls=ref.get("balls", lambda: real_balls(e_real, k, True)))
    real_rolls = real.reshape(len(real), -1)
    roll = prdc_with_misses(real_rolls, fake.reshape(len(fake), -1), ok, k, distinct=False,
                            balls=ref.get("roll_balls", lambda: real_balls(real_rolls, k, False)))
    out["roll_coverage"], out["roll_precision"] = roll["coverage"], roll["precision"]
    out["frechet_distance"] = frechet_distance(None, e_fake[ok], real_moments=ref.get("moments", lambda: moments(e_real)))
    out.update(ndb_jsd(e_real, e_fake[ok], bins=ref.ndb_bins, seed=ref.seed, extra_fake=int((~ok).sum()),
                       fitted=ref.get("bins", lambda: real_bins(e_real, ref.ndb_bins, ref.seed))))
    near = math.sqrt(NEAR_DUPLICATE_CELLS)
    out.update(duplicates(fake, near))
    real_dups = ref.duplicates(len(fake), near)
    out["near_duplicate_rate_real"], out["distinct_ratio_real"] = real_dups["near_duplicate_rate"], real_dups["distinct_ratio"]
    if same_condition is not None:
        same = np.asarray(same_condition)
        groups = decode_bars(same.reshape(-1, *same.shape[-2:]), ref.monophonic)
        e_same = ref.embedding(groups)[0].reshape(*same.shape[:2], -1)
        out["z_sensitivity"] = z_sensitivity(e_same, None, spread=ref.get("spread", lambda: mean_pairwise_distance(as_matrix(e_real))))
    else:
        out["z_sensitivity"] = float("nan")
    out.update(music_statistics(fake, real, seed=ref.seed, real_stats=ref.get("music", lambda: real_statistics(real))))
    if ref.train is not None:
        out["memorisation"] = memorisation(fake, ref.train, NEAR_DUPLICATE_CELLS)
        out["memorisation_real"] = ref.get("memorisation_real", lambda: memorisation(real, ref.train, NEAR_DUPLICATE_CELLS))
    if ref.modes is not None:
        out.update(motif_modes(fake, ref.modes))
    if conditions is not None and ref.conditions is not None:
        real_measures = ref.get("adherence", lambda: measures(real, *ref.conditions))
        out.update(condition_metrics(fake, conditions, real, ref.conditions, real_measures))
    return out


def _evaluate_points(fake, same_condition, ref: Reference) -> dict[str, float]:
    fake, real = np.asarray(fake, np.float32), ref.real
    out = prdc(real, fake, k=ref.k, balls=ref.get("balls", lambda: real_balls(real, ref.k)))
    out.update(ndb_jsd(real, fake, bins=ref.ndb_bins, seed=ref.seed,
                       fitted=ref.get("bins", lambda: real_bins(real, ref.ndb_bins, ref.seed))))
    near = NEAR_DUPLICATE_POINTS * ref.get("nn_median", lambda: float(kth_neighbour_radius(as_matrix(real), 1).median()))
    out.update(duplicates(fake, near))
    out["near_duplicate_rate_real"] = ref.duplicates(len(fake), near)["near_duplicate_rate"]
    out["z_sensitivity"] = (z_sensitivity(np.asarray(same_condition), None,
                                          spread=ref.get("spread", lambda: mean_pairwise_distance(as_matrix(real))))
                            if same_condition is not None else float("nan"))
    if ref.modes is not None:
        out.update(mixture_modes(fake, ref.modes, ref.mode_std))
    return out


def evaluate(fake, real=None, kind: str = "bars", same_condition=None, modes=None, mode_std: float = 0.0,
             train=None, monophonic: bool | None = None, k: int = 5, ndb_bins: int = 50,
             seed: int = 0, reference: Reference | None = None, conditions=None,
             real_conditions=None) -> dict[str, float]:
    """All metrics of generated samples `fake` against `real` ones, as a flat dict of floats.

    kind: "bars" ((N, 16, 128) probabilities or notes, decoded by mgen/metrics/decoding.py, monophonic
    when the real bars are unless `monophonic` says otherwise; k-NN metrics, NDB and the Frechet
    distance on bar embeddings, mgen/metrics/embedding.py) or "points" ((N, 2), Euclidean).
    real: the reference (held-out bars in a trial). train: the training bars, for `memorisation`.
    same_condition: (n_conditions, n_z, ...) outputs for z-sensitivity (None skips it).
    modes: known modes (motif bars, or mixture centres with mode_std) for the synthetic sets.
    conditions, real_conditions: (previous bars, chord labels) of the generated and of the real bars (either
    may be None inside): with both, the adherence metrics (mgen/metrics/adherence.py) of the generated bars
    to their conditions, beside the real bars' to theirs.
    reference: a `Reference` holding all of the real side instead (real, kind, train, modes, conditions,
    ...), kept between calls; the results are the same.
    """
    ref = reference or Reference(real, kind, train, modes, mode_std, monophonic, k, ndb_bins, seed, real_conditions)
    if ref.kind == "bars":
        out = _evaluate_bars(fake, same_condition, ref, conditions)
        empty = out["empty_bar_rate"]
    else:
        out = _evaluate_points(fake, same_condition, ref)
        empty = 0.0
    out["collapsed"] = float(is_collapsed(out["diversity"], out["z_sensitivity"]))
    out["failed"] = float(is_failed(empty, out["precision"]))
    out["healthy_coverage"] = out["coverage"] - float(out["collapsed"] or out["failed"])
    return {name: float(value) for name, value in out.items()}
