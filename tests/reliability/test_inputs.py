"""Bad input, one file or one checkpoint at a time: MIDI fuzz and oversized files, broken or tampered
checkpoints, `mgen train` refusing before it writes, atomic summaries, the resume trust check."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mgen.cli import main
from mgen.data.corpora import MIDI_MAX_BYTES, parse_midi_file
from mgen.errors import UserError
from mgen.study import trust
from mgen.study.storage import check_storage, storage_error, write_atomic
from mgen.train.trial import load_checkpoint
from tests.conftest import make_midi

ROOT = Path(__file__).resolve().parents[2]
FUZZ_EXAMPLES = 300


class Marker:
    """Unpickling this writes a file: the proof that a load ran code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "code ran"))


@pytest.fixture(scope="module")
def seed_midi(tmp_path_factory) -> bytes:
    notes = [(i * 0.5, i * 0.5 + 0.5, 60 + (i * 5) % 12) for i in range(64)]
    path = make_midi(tmp_path_factory.mktemp("midi") / "seed.mid", notes, numerator=4)
    return path.read_bytes()


@st.composite
def mutated(draw, data: bytes):
    """A real MIDI file with bytes flipped, cut, repeated or inserted, as a damaged download would be."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "set"]))
        i = draw(st.integers(0, max(0, len(b) - 1)))
        if op == "flip" and b:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del b[i:i + draw(st.integers(1, 64))]
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=32))
        elif op == "repeat":
            b[i:i] = b[i:i + draw(st.integers(1, 64))] * draw(st.integers(1, 8))
        elif b:  # tempo, lengths and delta times are where big numbers come from
            b[i] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF]))
    return bytes(b)


def test_midi_fuzz_never_raises_and_every_file_is_kept_or_counted(seed_midi, tmp_path):
    seen = {"kept": 0, "failed": 0, "slowest": 0.0}
    path = tmp_path / "fuzz.mid"

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated(seed_midi))
    def check(data):
        path.write_bytes(data)
        start = time.perf_counter()
        result = parse_midi_file(str(path))  # must not raise, whatever the bytes
        seen["slowest"] = max(seen["slowest"], time.perf_counter() - start)
        assert len(result.pieces) + len(result.failed) == 1
        if result.failed:
            assert result.failed[0].startswith(str(path)) and "\n" not in result.failed[0]
            seen["failed"] += 1
        else:
            seen["kept"] += 1

    check()
    assert seen["kept"] + seen["failed"] == FUZZ_EXAMPLES
    assert seen["failed"] > 0 and seen["kept"] > 0, seen  # the mutations do reach both outcomes
    assert seen["slowest"] < 10, seen


def test_an_oversized_midi_file_is_refused_before_parsing(seed_midi, tmp_path):
    big = tmp_path / "big.mid"
    with big.open("wb") as f:  # a valid start, then 9 MB more: parsing it is what used to take minutes
        f.write(seed_midi)
        f.truncate(MIDI_MAX_BYTES + 2**20)
    start = time.perf_counter()
    result = parse_midi_file(str(big))
    assert time.perf_counter() - start < 1.0
    assert not result.pieces and "over the 8 MB limit" in result.failed[0]


def test_a_tiny_file_claiming_hours_of_music_is_refused(tmp_path):
    path = make_midi(tmp_path / "long.mid", [(0, 1, 60), (40_000, 40_001, 62)])  # a note 5.5 hours in
    assert path.stat().st_size < 200
    start = time.perf_counter()
    result = parse_midi_file(str(path))
    assert time.perf_counter() - start < 2.0
    assert not result.pieces and "over the limits" in result.failed[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert main(["train", "--data", "ring", "--data-n-samples", "256", "--g-width", "16", "--d-width", "16",
                 "--steps", "4", "--eval-every", "2", "--eval-samples", "32", "--out", str(out)]) == 0
    return out / "checkpoint.pt"


def one_line_error(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_broken_checkpoints_fail_with_one_line_and_run_no_code(checkpoint, tmp_path, capsys):
    marker = tmp_path / "marker"
    tampered = tmp_path / "tampered.pt"
    torch.save({"config": {}, "payload": Marker(marker)}, tampered, pickle_module=pickle)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    for path in (tampered, truncated, other, text, tmp_path / "missing.pt"):
        err = one_line_error(capsys, ["generate", str(path), "--n", "8", "--out", str(tmp_path / "gen")])
        assert str(path) in err and "weights_only=False" not in err, err
    assert not marker.exists()
    # A checkpoint folder (what a study prints) means the checkpoint.pt inside it.
    assert load_checkpoint(checkpoint.parent)["step"] == 4


def test_train_refuses_a_changed_config_before_touching_the_run(checkpoint, capsys):
    out = checkpoint.parent
    before = (out / "config.yaml").read_text()
    err = one_line_error(capsys, ["train", "--out", str(out), "--resume", "--g-width", "32"])
    assert "different config" in err and "g_width" in err
    assert (out / "config.yaml").read_text() == before
    assert yaml.safe_load(before)["g_width"] == 16


def test_train_divergence_before_any_checkpoint_names_no_missing_file(tmp_path, capsys):
    out = tmp_path / "nan"
    assert main(["train", "--method", "vae", "--lr-g", "1", "--kl-weight", "0", "--data", "ring", "--data-n-samples",
                 "256", "--steps", "20", "--eval-every", "10", "--eval-samples", "32", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "diverged at step" in printed and "no checkpoint was saved" in printed
    assert not (out / "checkpoint.pt").exists()


def test_atomic_write_keeps_the_old_file_when_the_disk_refuses(tmp_path):
    path = write_atomic(tmp_path / "study.json", '{"trials": 2}')
    # A child process whose files may not exceed 1 KB: the write fails as on a full disk (EFBIG).
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024));"
            "from mgen.study.storage import write_atomic, storage_error\n"
            "try:\n  write_atomic(sys.argv[1], 'x' * 100_000)\n"
            "except OSError as e:\n  print('refused', storage_error(e) is not None); sys.exit(3)")
    import signal

    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))
    assert done.returncode == 3 and "refused True" in done.stdout, done.stdout + done.stderr
    assert path.read_text() == '{"trials": 2}'
    assert [p.name for p in tmp_path.iterdir()] == ["study.json"]  # no temporary file left behind


def test_storage_checks_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(UserError, match="MB free, below --min-free-mb"):
        check_storage(str(tmp_path), "s", min_free_mb=1e12)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write there"):
        check_storage(str(blocker / "results"), "s", min_free_mb=0)
    check_storage(str(tmp_path), "s", min_free_mb=0)
    assert (tmp_path / "s").is_dir() and not list((tmp_path / "s").iterdir())  # the probe is gone
    err = OSError(28, "No space left on device")
    try:
        try:
            raise err
        except OSError as inner:
            raise RuntimeError("Tune wrapped it") from inner
    except RuntimeError as outer:
        assert storage_error(outer) is err
    assert storage_error(ValueError("not storage")) is None


def test_resume_trust_refuses_writable_or_changed_pickles(tmp_path, monkeypatch):
    monkeypatch.setenv("MGEN_STATE_DIR", str(tmp_path / "state"))
    root = tmp_path / "results"
    study = root / "s"
    study.mkdir(parents=True)
    (study / "tuner.pkl").write_bytes(pickle.dumps({"fine": 1}))
    (study / "experiment_state-x.json").write_text("{}")
    assert "not written by a study started from this account" in trust.check_resume(str(root), str(study))[0]
    trust.record(study)
    assert oct(trust.state_file().stat().st_mode & 0o777) == "0o600"
    assert trust.check_resume(str(root), str(study)) == []
    os.chmod(study / "experiment_state-x.json", 0o664)
    with pytest.raises(UserError, match="writable by its group"):
        trust.check_resume(str(root), str(study))
    os.chmod(study / "experiment_state-x.json", 0o644)
    (study / "tuner.pkl").write_bytes(pickle.dumps(Marker(tmp_path / "marker")))
    with pytest.raises(UserError, match="changed since the study wrote it"):
        trust.check_resume(str(root), str(study))
    assert not (tmp_path / "marker").exists()
    assert "anyone who can write there" in trust.check_resume("s3://bucket/results", "s3://bucket/results/s")[0]
