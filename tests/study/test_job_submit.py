"""End to end: a real Ray head on loopback, `ray job submit` of the smoke study, then its results."""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pretty_midi
import pytest

from cluster.local_cluster import free_port
from mgen.study.wandb_offline import records as wandb_records
from tests.study.conftest import processes_naming, stop_ray_under

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def listening_addresses(pids: set[int]) -> set[str]:
    """IPs that TCP sockets owned by these processes listen on (from /proc, no extra tools)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    ips = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            words = struct.unpack("<" + "I" * (size // 4), raw)
            packed = struct.pack(">" + "I" * (size // 4), *words)
            ip = socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6, packed)
            ips.add(ip.replace("::ffff:", ""))
    return ips


def agent_ports() -> list[str]:
    return ["--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()), "--ray-client-server-port", str(free_port())]


def submit_job(args: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """`ray job submit`, retried (3 tries, 10 s apart) only on Ray's startup race "No available agent to
    submit job, please try again later": a head's dashboard agent can register a few seconds after
    `ray start` returns, later on a busy machine."""
    for attempt in range(3):
        done = subprocess.run(["ray", "job", "submit", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
        if "No available agent to submit job" not in done.stdout + done.stderr:
            break
        time.sleep(10)
    return done


@pytest.fixture
def ray_head(tmp_path):
    short_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_TMPDIR": short_tmp}
    env.pop("RAY_ADDRESS", None)
    gcs, dashboard = free_port(), free_port()
    # A private RAY_TMPDIR: this head does not see, and is not seen by, any other Ray on the machine.
    # Free ports for the agents too: their defaults are fixed, and a head started by an earlier test may still
    # hold them while it shuts down ("No available agent to submit job").
    started = subprocess.run(["bash", "cluster/start_local_head.sh", "--num-cpus", "2", *agent_ports()], cwd=ROOT, env={
        **env, "RAY_GCS_PORT": str(gcs), "RAY_DASHBOARD_PORT": str(dashboard)}, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield env, f"http://127.0.0.1:{dashboard}"
    finally:
        assert stop_ray_under(short_tmp) > 0  # this head's processes, and no other Ray on the machine
        shutil.rmtree(short_tmp, ignore_errors=True)


def test_ray_job_submit_runs_the_smoke_study_end_to_end(ray_head, tmp_path):
    env, address = ray_head
    addresses = listening_addresses(set(processes_naming(env["RAY_TMPDIR"])))  # this head's, not another Ray's
    assert addresses and addresses <= {"127.0.0.1", "::1"}, addresses
    results = tmp_path / "results"
    submit = submit_job(["--address", address, "--working-dir", ".", "--", "python", "studies/gan_collapse.py",
                         "--budget", "smoke", "--storage", str(results), "--name", "e2e",
                         # Shortened to its 1:1 trials (the control and D without normalisation) at 200
                         # iterations: this test is about the path from `ray job submit` to samples, not what
                         # the trials learn (tests/train and tests/study check that; tests/cluster runs two
                         # trials on two nodes).
                         "--only", "dg_ratio=1:1", "--set", "steps=200", "--set", "eval_every=100"], env, timeout=900)
    output = submit.stdout + submit.stderr
    assert submit.returncode == 0 and "succeeded" in output, output[-5000:]
    study = results / "e2e"
    summary = json.loads((study / "study.json").read_text())
    trials = sorted(p for p in study.iterdir() if p.name.startswith("trainable_"))
    # The study's two GAN trials, and the VAE and IMLE recipes beside them as reference rows.
    assert summary["trials"] == 2 and summary["errored"] == 0 and len(trials) == 4
    assert sorted(x["method"] for x in summary["references"]) == ["imle", "vae"]
    for trial in trials:  # every trial has metrics and a checkpoint
        progress = pd.read_csv(trial / "progress.csv")
        assert {"coverage", "z_sensitivity", "music_overlap", "train_cpu_seconds"} <= set(progress.columns)
        assert list(trial.glob("checkpoint_*/checkpoint.pt")), trial
    best = Path(summary["best"]["best_checkpoint"]) / "checkpoint.pt"
    generated = subprocess.run([sys.executable, "-m", "mgen.cli", "generate", str(best), "--n", "8",
                                "--out", str(tmp_path / "samples")], capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stderr
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "samples" / "phrase_00.mid"))  # a valid MIDI file
    assert midi.time_signature_changes and (tmp_path / "samples" / "samples.png").exists()
    # W&B offline: one run per trial, grouped by study, with the metrics logged at every evaluation, and one
    # study-level run.
    runs = sorted((study / "wandb").glob("offline-run-*/run-*.wandb"))
    job_types = {run: [r.run.job_type for r in wandb_records(run) if r.WhichOneof("record_type") == "run"][0]
                 for run in runs}
    assert sorted(job_types.values()) == ["study"] + ["trial"] * 4
    runs = [run for run in runs if job_types[run] == "trial"]
    for run in runs:
        records = list(wandb_records(run))
        history = [{i.key or "/".join(i.nested_key): i.value_json for i in r.history.item} for r in records if r.WhichOneof("record_type") == "history"]
        reports = [h for h in history if "quality/coverage" in h]
        assert len(reports) >= 1 and all("collapse/collapsed" in h and "step" in h for h in reports)
        group = [r.run.run_group for r in records if r.WhichOneof("record_type") == "run"]
        assert group and group[0] == "e2e"
    tags = [[r.run.tags for r in wandb_records(run) if r.WhichOneof("record_type") == "run"][0] for run in runs]
    assert sorted(t[0] for t in tags if "reference" in t) == ["imle", "vae"]  # the reference rows, tagged
    # The final samples (.mid and .wav) went up as an artifact of each finished trial.
    artifacts = [r.artifact for run in runs for r in wandb_records(run) if r.WhichOneof("record_type") == "artifact"]
    names = {e.path for a in artifacts for e in a.manifest.contents}
    assert {"samples.mid", "samples.wav"} <= names, names
    assert not any("WANDB_API_KEY" in p.read_text(errors="ignore") for p in study.rglob("*.json"))
