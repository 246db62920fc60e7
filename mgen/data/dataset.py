"""Data sets by name: the config that defines one, the arrays it holds, and the on-disk cache."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mgen.data import corpora, synthetic
from mgen.data.bars import CHORD_DIM, PITCHES, STEPS, Piece, key_shift_to_c, piece_to_bars
from mgen.errors import UserError
from mgen.files import atomic_path

log = logging.getLogger(__name__)

SYNTHETIC_POINTS = ("ring", "grid")
SYNTHETIC_BARS = ("motifs",)
DATA_NAMES = tuple(corpora.CORPORA) + ("midi:PATH",) + SYNTHETIC_BARS + SYNTHETIC_POINTS
CACHE_VERSION = 1  # bump when the conversion rules change, so old caches are not reused


@dataclass(frozen=True)
class DataConfig:
    name: str = "bach"  # bach | celtic | fiddle | essen | midi:PATH | motifs | ring | grid
    key: str = "C"  # "C": each piece moved to C major / A minor; "original": as written
    augment: int = 0  # also add every piece transposed by +-1..augment semitones (0 = off)
    polyphonic: bool = False  # bars hold all voices instead of the top voice (melody)
    max_files: int = 0  # read only the first N source files (0 = all); for quick runs
    n_samples: int = 10000  # ring/grid: points; motifs: bars (8-bar melodies of planted motifs)
    k_motifs: int = 8  # motifs: number of planted motifs
    vary: float = 0.3  # motifs: chance that a bar has one note moved a scale step
    std: float = 0.0  # ring/grid: sd of each Gaussian (0 = the protocol default, 0.01 ring / 0.025 grid)
    seed: int = 0  # synthetic sets: generation seed

    def validate(self) -> "DataConfig":
        valid_names = ", ".join(DATA_NAMES)
        if not (self.name in corpora.CORPORA or self.name in SYNTHETIC_BARS + SYNTHETIC_POINTS
                or (self.name.startswith("midi:") and len(self.name) > 5)):
            raise UserError(f"unknown data set {self.name!r}; valid: {valid_names}")
        if self.key not in ("C", "original"):
            raise UserError(f"data key={self.key!r} is invalid; valid: C, original")
        checks = [("augment", 0 <= self.augment <= 11, "an integer in 0..11"),
                  ("max_files", self.max_files >= 0, "an integer >= 0 (0 = all)"),
                  ("n_samples", self.n_samples >= 16, "an integer >= 16"),
                  ("k_motifs", 1 <= self.k_motifs <= 200, "an integer in 1..200"),
                  ("vary", 0.0 <= self.vary <= 1.0, "a number in 0..1"),
                  ("std", self.std >= 0.0, "a number >= 0 (0 = protocol default)")]
        for fname, ok, valid in checks:
            if not ok:
                raise UserError(f"data {fname}={getattr(self, fname)!r} is invalid; valid: {valid}")
        return self

    @property
    def is_points(self) -> bool:
        return self.name in SYNTHETIC_POINTS


@dataclass
class BarDataset:
    """A built data set. Bars are (N, 16, 128) bool; 2D mixtures hold points (N, 2) instead."""

    config: DataConfig
    x: np.ndarray  # (N, 16, 128) bool bars, or (N, 2) float32 points
    prev: np.ndarray | None  # (N, 16, 128) bool: the bar before each bar (zeros at a run's start)
    chord: np.ndarray | None  # (N, 13) float32: root pitch class one-hot + minor flag
    piece: np.ndarray  # (N,) int32: index of the piece each example comes from
    modes: np.ndarray | None  # known modes: (K, 2) centres or (K, 16, 128) motif bars; None for music
    mode_std: float = 0.0  # ring/grid: sd of each mode
    stats: dict = field(default_factory=dict)  # counts: pieces, bars, skipped bars, failed files

    def __len__(self) -> int:
        return len(self.x)

    @property
    def is_points(self) -> bool:
        return self.x.ndim == 2

    def subset(self, idx: np.ndarray) -> "BarDataset":
        """The examples at `idx` (modes, stats and config kept)."""
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return dataclasses.replace(self, x=self.x[idx], prev=pick(self.prev), chord=pick(self.chord),
                                   piece=self.piece[idx])

    def split(self) -> tuple["BarDataset", "BarDataset"]:
        """(training part, held-out part), by piece for music and motifs, by example for 2D points."""
        from mgen.data.split import heldout_mask

        held = heldout_mask(np.arange(len(self)) if self.is_points else self.piece)
        return self.subset(np.nonzero(~held)[0]), self.subset(np.nonzero(held)[0])

    def summary(self) -> dict:
        """Sizes and distributions a person checks a conversion with."""
        out = {"name": self.config.name, "examples": len(self), **self.stats}
        if self.is_points:
            out["modes"] = len(self.modes)
            return out
        pitches = np.nonzero(self.x.any(axis=(0, 1)))[0]
        out["pitch_range"] = [int(pitches.min()), int(pitches.max())] if len(pitches) else []
        names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
        labels = [names[int(c[:12].argmax())] + ("m" if c[12] else "") if c[:12].any() else "none"
                  for c in self.chord]
        uniq, counts = np.unique(labels, return_counts=True)
        order = np.argsort(-counts)
        out["chords"] = {str(uniq[i]): int(counts[i]) for i in order}
        return out


def cache_dir() -> Path:
    return Path(os.environ.get("MGEN_CACHE", Path.home() / ".cache" / "mgen"))


def _cache_key(cfg: DataConfig) -> str:
    fields = dataclasses.asdict(cfg)
    if cfg.name.startswith("midi:"):  # a changed folder must not hit an old cache
        files = corpora.midi_sources(cfg.name[5:])
        fields["files"] = [(f, os.path.getsize(f), os.path.getmtime(f)) for f in files]
    fields["version"] = CACHE_VERSION
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save(ds: BarDataset, path: Path) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, x=np.packbits(ds.x, axis=-1), prev=np.packbits(ds.prev, axis=-1), chord=ds.chord,
                 piece=ds.piece, stats=json.dumps(ds.stats))


def _load(path: Path, cfg: DataConfig) -> BarDataset:
    with np.load(path) as z:
        return BarDataset(cfg, np.unpackbits(z["x"], axis=-1).astype(bool),
                          np.unpackbits(z["prev"], axis=-1).astype(bool), z["chord"], z["piece"], None,
                          stats=json.loads(str(z["stats"])))


def pieces_to_dataset(cfg: DataConfig, pieces: list[Piece], stats: dict) -> BarDataset:
    """Key normalisation, augmentation and bar cutting of parsed pieces."""
    bars, prevs, chords, index = [], [], [], []
    counts = {"skipped_empty": 0, "skipped_partial": 0, "skipped_meter": 0, "skipped_out_of_range": 0}
    shifts = [0] + [s for k in range(1, cfg.augment + 1) for s in (k, -k)]
    for i, piece in enumerate(pieces):
        base = piece.transposed(key_shift_to_c(piece.harmony)) if cfg.key == "C" else piece
        for shift in shifts:
            variant = base.transposed(shift) if base is not None else None
            if variant is None:
                counts["skipped_out_of_range"] += 1
                continue
            pb = piece_to_bars(variant, cfg.polyphonic)
            for k in ("skipped_empty", "skipped_partial", "skipped_meter"):
                counts[k] += pb.counts[k] if shift == 0 else 0
            bars.append(pb.bars)
            prevs.append(pb.prev)
            chords.append(pb.chords)
            index.append(np.full(len(pb.bars), i, dtype=np.int32))
    empty = np.zeros((0, STEPS, PITCHES), bool)
    x = np.concatenate(bars) if bars else empty
    stats = {**stats, "pieces": len(pieces), "bars": int(len(x)), **counts}
    return BarDataset(cfg, x, np.concatenate(prevs) if prevs else empty,
                      np.concatenate(chords) if chords else np.zeros((0, CHORD_DIM), np.float32),
                      np.concatenate(index) if index else np.zeros(0, np.int32), None, stats=stats)


def _build_music(cfg: DataConfig) -> BarDataset:
    if cfg.name.startswith("midi:"):
        sources, parse, what = corpora.midi_sources(cfg.name[5:]), corpora.parse_midi_file, "MIDI files"
    else:
        sources, parse, what = corpora.corpus_sources(cfg.name), corpora.parse_corpus_file, cfg.name
    if cfg.max_files:
        sources = sources[: cfg.max_files]
    if not sources:
        raise UserError(f"{cfg.name}: no .mid or .midi files found; put MIDI files in the folder or pick another data set")
    parsed = corpora.parse_all(sources, parse, desc=f"parsing {what}")
    ds = pieces_to_dataset(cfg, parsed.pieces, {"files": len(sources), "failed_files": len(parsed.failed),
                                                "failed": parsed.failed[:50]})
    if len(ds) == 0:
        raise UserError(f"{cfg.name}: no usable bars in {len(sources)} files ({len(parsed.failed)} unreadable); "
                        "bars need notes in 4/4, 2/2 or 2/4 -- check the files or pick another data set")
    return ds


def _build_motifs(cfg: DataConfig) -> BarDataset:
    rng = np.random.default_rng(cfg.seed)
    n_melodies = int(np.ceil(cfg.n_samples / synthetic.BARS_PER_MELODY))
    pieces, motifs = synthetic.motif_pieces(cfg.k_motifs, n_melodies, cfg.vary, rng)
    ds = pieces_to_dataset(dataclasses.replace(cfg, key="original"), pieces, {"files": 0, "failed_files": 0})
    ds.config = cfg
    ds.modes = np.concatenate([piece_to_bars(m).bars for m in motifs])
    return ds


def _build_points(cfg: DataConfig) -> BarDataset:
    rng = np.random.default_rng(cfg.seed)
    if cfg.name == "ring":
        centres, std = synthetic.ring_centres(), cfg.std or 0.01
    else:
        centres, std = synthetic.grid_centres(), cfg.std or 0.025
    x, labels = synthetic.sample_mixture(centres, std, cfg.n_samples, rng)
    return BarDataset(cfg, x, None, None, labels.astype(np.int32), centres.astype(np.float32), std,
                      stats={"examples": len(x), "modes": len(centres)})


def load_dataset(cfg: DataConfig | str, refresh: bool = False) -> BarDataset:
    """Build a data set, or load it from the cache when this config was built before."""
    cfg = DataConfig(name=cfg) if isinstance(cfg, str) else cfg
    cfg.validate()
    if cfg.is_points:
        return _build_points(cfg)
    if cfg.name in SYNTHETIC_BARS:
        return _build_motifs(cfg)
    path = cache_dir() / f"{cfg.name.replace(':', '_').replace('/', '_')[:40]}-{_cache_key(cfg)}.npz"
    if path.exists() and not refresh:
        return _load(path, cfg)
    start = time.perf_counter()
    ds = _build_music(cfg)
    ds.stats["build_seconds"] = round(time.perf_counter() - start, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(ds, path)
    log.info("cached %s at %s", cfg.name, path)
    return ds
