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


@pytest.fixture(scope="module")
def local_ray():
    """A private local Ray on 127.0.0.1 with 2 CPUs, started as a study starts its own (mgen.study.tuner.init_ray)
    and shared by the module's in-process studies: a study leaves a Ray it did not start running, so the module
    pays Ray's start and stop (about 12 s on 2 busy cores) once rather than per study. Stopped at the module's end.
    Tests that need a study to start its own Ray (its --num-cpus, or nothing started at all) use `own_ray`."""
    import ray

    from mgen.study.tuner import init_ray

    started = init_ray(2)  # False where a Ray already runs in this process: then it is not this fixture's to stop
    yield
    if started:
        ray.shutdown()


@pytest.fixture
def own_ray():
    """No Ray in this process when the test starts (a module's shared one is stopped; a later test that asks for
    `local_ray` gets its studies' own Rays)."""
    import sys

    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()
