"""Shared test fixtures: tiny hand-made MIDI files and an isolated data cache."""
from __future__ import annotations

import os
import tempfile

import pretty_midi
import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# Studies record the digests --resume checks (mgen/study/trust.py) here, not in the user's own state folder.
os.environ.setdefault("MGEN_STATE_DIR", tempfile.mkdtemp(prefix="mgen-state-"))


def make_midi(path, notes, tempo=120.0, numerator=4, denominator=4, drums=()):
    """Write a MIDI file; notes are (onset, end, pitch) in quarter notes."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0.0))
    spq = 60.0 / tempo
    inst = pretty_midi.Instrument(program=0)
    for on, off, pitch in notes:
        inst.notes.append(pretty_midi.Note(velocity=80, pitch=int(pitch), start=on * spq, end=off * spq))
    pm.instruments.append(inst)
    if drums:
        drum = pretty_midi.Instrument(program=0, is_drum=True)
        drum.notes.extend(pretty_midi.Note(velocity=80, pitch=36, start=t * spq, end=(t + 0.25) * spq) for t in drums)
        pm.instruments.append(drum)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A fresh, empty data cache for tests that count builds."""
    monkeypatch.setenv("MGEN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
