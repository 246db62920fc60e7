"""End to end on a multi-node cluster on this machine: cluster/local_cluster.py starts a head and two
worker nodes on 127.0.0.1, `ray job submit` runs the smoke study on it, its trials run on both workers,
and `stop` ends exactly the processes it started (another Ray on the machine keeps running)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from tests.study.conftest import processes_naming, stop_ray_under
from tests.study.test_job_submit import agent_ports, free_port, listening_addresses, submit_job

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def processes_under(root: str) -> set[int]:
    return set(processes_naming(root))


@pytest.fixture
def bystander():
    """Another Ray on the machine (a user's own), which the cluster script must leave alone."""
    tmp = tempfile.mkdtemp(prefix="rayb", dir="/tmp")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_TMPDIR": tmp,
           "RAY_GCS_PORT": str(free_port()), "RAY_DASHBOARD_PORT": str(free_port())}
    env.pop("RAY_ADDRESS", None)
    started = subprocess.run(["bash", "cluster/start_local_head.sh", "--num-cpus", "0", *agent_ports()], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield tmp
    finally:
        stop_ray_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def cluster_cmd(*args, timeout=240):
    return subprocess.run([sys.executable, "cluster/local_cluster.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_the_smoke_study_runs_across_the_nodes_of_a_local_cluster(bystander, tmp_path):
    root = tempfile.mkdtemp(prefix="mgc", dir="/tmp")  # Ray's socket paths must stay short
    theirs = processes_under(bystander)
    try:
        started = cluster_cmd("start", "--root", root, "--workers", "2", "--cpus-per-worker", "1")
        assert started.returncode == 0, started.stdout + started.stderr
        info = json.loads(Path(root, "cluster.json").read_text())
        assert info["nodes"] == 3 and len(set(info["node_ids"])) == 3
        assert listening_addresses(processes_under(root)) <= {"127.0.0.1", "::1"}
        again = cluster_cmd("start", "--root", root)  # one cluster per root
        assert again.returncode != 0 and "already runs" in again.stderr
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
        env.pop("RAY_ADDRESS", None)
        results = tmp_path / "results"
        # The smoke study, shortened to 100 iterations and two of its trials (spectral norm, 1:1 and 1:5), one a
        # worker at once, without W&B or reference rows (tests/study/test_job_submit.py checks both): this test is about
        # where trials run, not what they learn.
        submit = submit_job(["--address", info["address"], "--working-dir", ".", "--", "python",
                             "studies/gan_collapse.py", "--budget", "smoke", "--storage", str(results), "--name", "mc",
                             "--set", "steps=100", "--set", "eval_every=50", "--only", "d_norm=spectral",
                             "--only", "dg_ratio=1:1,1:5", "--no-wandb", "--no-references"], env, timeout=900)
        output = submit.stdout + submit.stderr
        assert submit.returncode == 0 and "succeeded" in output, output[-5000:]
        study = results / "mc"
        summary = json.loads((study / "study.json").read_text())
        trials = sorted(study.glob("trainable_*"))
        assert len(trials) == summary["trials"] == 2 and summary["errored"] == 0
        nodes = set()
        for trial in trials:  # complete: every report, and its last and best checkpoints (--keep-checkpoints 1)
            progress = pd.read_csv(trial / "progress.csv")
            kept = {p.parent.name for p in trial.glob("checkpoint_*/checkpoint.pt")}
            assert list(progress["step"]) == [50, 100] and progress["checkpoint_dir_name"].iloc[-1] in kept
            assert 1 <= len(kept) <= 2
            nodes |= set(progress["node_id"])
        head, *workers = info["node_ids"]
        assert nodes == set(workers), (nodes, info["node_ids"])  # both workers ran trials; the head (0 CPUs) none
    finally:
        stopped = cluster_cmd("stop", "--root", root)
        shutil.rmtree(root, ignore_errors=True)
    assert stopped.returncode == 0 and processes_under(root) == set(), stopped.stdout + stopped.stderr
    assert theirs and processes_under(bystander) >= theirs  # the other Ray is untouched
