"""Real music in: music21's bundled corpora and a user's folder of MIDI files, parsed to Pieces in parallel."""
from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mgen.data.bars import Piece
from mgen.errors import UserError

log = logging.getLogger(__name__)

# Corpus name -> music21 core-corpus collection (all ship with music21; nothing is downloaded).
CORPORA = {
    "bach": "chorales",  # the 371 Bach chorales, soprano as melody, all four voices for chords
    "celtic": "oneills1850",  # O'Neill's Music of Ireland (1850): 39 ABC files, ~1,850 tunes
    "fiddle": "ryansMammoth",  # Ryan's Mammoth Collection: 1,059 ABC files
    "essen": "essenFolksong",  # Essen folk songs: 31 ABC files
}
MIDI_SUFFIXES = (".mid", ".midi")
# Per-file limits of a MIDI folder: parsing is linear in size but costly (a 50 MB file took 82 s and
# 3.8 GB, once per core at once), and a tiny file can claim a note hours long. Real pieces are far
# below these (the largest of the Lakh MIDI set is under 2 MB). Environment variables raise them.
MIDI_MAX_BYTES = int(os.environ.get("MGEN_MIDI_MAX_BYTES", 8 * 2**20))
MIDI_MAX_NOTES = int(os.environ.get("MGEN_MIDI_MAX_NOTES", 200_000))
MIDI_MAX_SECONDS = float(os.environ.get("MGEN_MIDI_MAX_SECONDS", 4 * 3600))


@dataclass
class ParseResult:
    pieces: list[Piece] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # sources that could not be read, with the reason


def corpus_sources(name: str) -> list[str]:
    """The source files of a bundled corpus, in a fixed order."""
    from music21 import corpus

    if name == "bach":
        return list(corpus.chorales.Iterator(returnType="filename"))
    return sorted(str(p) for p in corpus.getComposer(CORPORA[name]))


def midi_sources(folder: str) -> list[str]:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"midi:{folder}: no such folder; give a folder of .mid files, e.g. midi:~/music/midi")
    return sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def _part_notes(part) -> np.ndarray:
    """(onset, end, pitch) rows of a music21 part, ties merged, grace notes dropped.

    Ties are merged in place on the flat view (4x faster than a copy); the part's notes change, so
    read everything else (measures) from the part first.
    """
    rows = []
    flat = part.flatten()
    flat.stripTies(inPlace=True)
    for n in flat.notes:
        length = float(n.quarterLength)
        if length <= 0:
            continue
        on = float(n.offset)
        rows.extend((on, on + length, p.midi) for p in n.pitches)
    return np.asarray(sorted(rows), dtype=float).reshape(-1, 3)


def _score_to_piece(score, name: str) -> Piece:
    parts = list(score.parts) or [score]
    measures = [(float(m.offset), float(m.duration.quarterLength), float(m.barDuration.quarterLength))
                for m in parts[0].getElementsByClass("Measure")]
    melody = _part_notes(parts[0])
    harmony = np.concatenate([melody] + [_part_notes(p) for p in parts[1:]]) if len(parts) > 1 else melody
    return Piece(name, melody, harmony, np.asarray(measures, dtype=float).reshape(-1, 3))


@contextmanager
def _no_beaming():
    """music21's ABC import spends over half its time beaming notes for display; bars need no beams.

    The same bars with and without (checked: all of bach, 6 celtic, 2 essen and 60 fiddle files), and
    about twice as fast. Used with storePickle=False, so music21's own parse cache never holds these
    beamless streams.
    """
    from music21 import stream

    original = stream.Stream.makeBeams
    stream.Stream.makeBeams = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        stream.Stream.makeBeams = original


def parse_corpus_file(source: str) -> ParseResult:
    """One corpus file (a chorale, or an ABC file of one or many tunes) to Pieces."""
    from music21 import converter, corpus, stream

    out = ParseResult()
    try:
        path = source if Path(source).is_file() else corpus.getWork(source)  # a chorale is a corpus name
        path = path[0] if isinstance(path, list) else path  # the file corpus.parse would take
        with _no_beaming():
            parsed = converter.parse(path, forceSource=True, storePickle=False)
    except Exception as exc:  # a file music21 cannot read is skipped and reported, not fatal
        out.failed.append(f"{source}: {type(exc).__name__}: {exc}")
        return out
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    stem = Path(source).stem
    for i, score in enumerate(scores):
        number = getattr(score.metadata, "number", None) if score.metadata else None
        try:
            out.pieces.append(_score_to_piece(score, f"{stem}#{number or i}"))
        except Exception as exc:
            out.failed.append(f"{source}#{i}: {type(exc).__name__}: {exc}")
    return out


def parse_midi_file(source: str) -> ParseResult:
    """One MIDI file to a Piece; a corrupt, empty or non-MIDI file is reported as failed."""
    import pretty_midi

    from mgen.data.midi import midi_to_piece

    out = ParseResult()
    try:
        size = os.path.getsize(source)
        if size > MIDI_MAX_BYTES:  # checked before parsing: the parse itself is what costs
            out.failed.append(f"{source}: {size / 2**20:.1f} MB, over the {MIDI_MAX_BYTES / 2**20:.0f} MB limit "
                              "(MGEN_MIDI_MAX_BYTES)")
            return out
        pm = pretty_midi.PrettyMIDI(source)
    except Exception as exc:
        out.failed.append(f"{source}: not a readable MIDI file ({type(exc).__name__}: {str(exc)[:200]})")
        return out
    try:
        notes = sum(len(inst.notes) for inst in pm.instruments)
        seconds = pm.get_end_time()
        if notes > MIDI_MAX_NOTES or not seconds <= MIDI_MAX_SECONDS:
            out.failed.append(f"{source}: {notes} notes over {seconds:.0f} s, over the limits "
                              f"({MIDI_MAX_NOTES} notes, {MIDI_MAX_SECONDS:.0f} s; MGEN_MIDI_MAX_NOTES/_SECONDS)")
            return out
        piece = midi_to_piece(pm, Path(source).stem)
    except Exception as exc:  # a file pretty_midi read but whose timing or notes make no sense
        out.failed.append(f"{source}: unusable MIDI ({type(exc).__name__}: {str(exc)[:200]})")
        return out
    if len(piece.harmony) == 0:
        out.failed.append(f"{source}: no notes")
    else:
        out.pieces.append(piece)
    return out


def parse_all(sources: list[str], parse, desc: str, workers: int | None = None) -> ParseResult:
    """Parse sources in worker processes with a progress bar; results come back in source order."""
    from tqdm import tqdm

    workers = workers or min(len(sources), os.cpu_count() or 1)
    results: dict[int, ParseResult] = {}
    bar = tqdm(total=len(sources), desc=desc, unit="file", disable=None)
    if workers <= 1:
        for i, src in enumerate(sources):
            results[i] = parse(src)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(parse, src): i for i, src in enumerate(sources)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
    bar.close()
    merged = ParseResult()
    for i in range(len(sources)):
        merged.pieces.extend(results[i].pieces)
        merged.failed.extend(results[i].failed)
    for reason in merged.failed:
        log.warning("skipped %s", reason)
    return merged
