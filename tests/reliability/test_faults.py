"""Faults a sweep meets, done for real: a trial's process killed, a node lost, the driver killed and
resumed at several moments, a diverging trial, unwritable and full storage, W&B unreachable, two
studies side by side, a tampered tuner.pkl. Each test starts its own Ray (private RAY_TMPDIR) and
stops only the processes it started."""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mgen.data import load_dataset
from mgen.study import Choice
from mgen.studies import main, run_study
from mgen.study.trainable import trial_config
from mgen.study.wandb_offline import orphans, read_run, segments
from mgen.train import train
from tests.reliability.driver import spec as driver_spec
from tests.reliability.test_inputs import Marker
from tests.study.test_job_submit import listening_addresses
from tests.study.test_wandb_offline import exit_codes
from cluster.local_cluster import free_port
from tests.study.conftest import (
    processes_naming,
    reports,
    stop_ray_under,
    study_args,
    tiny_spec,
    trial_dirs,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
STEPS, EVERY = 2000, 100  # 20 reports a trial, about 13 s of training each
N_REPORTS = STEPS // EVERY
COMPARED = ["loss_d", "loss_g", "coverage", "precision", "density", "modes_captured", "high_quality", "z_sensitivity"]


def driver(results: Path, name: str, *flags: str, env: dict, log: Path, steps: int = STEPS, trials: int = 2,
           wandb: bool = False) -> subprocess.Popen:
    """A tiny grid study (ring data, `trials` D/G ratios) as its own process group."""
    argv = [sys.executable, "-m", "tests.reliability.driver", "--steps", str(steps), "--eval-every", str(EVERY),
            "--trials", str(trials), "--storage", str(results), "--name", name, "--no-collapse-stop", *flags]
    if not wandb:
        argv.append("--no-wandb")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture
def env(ray_tmpdir):
    """The drivers' environment: their Ray under this test's RAY_TMPDIR, Tune snapshotting every second
    (so a kill finds a snapshot that knows a checkpoint without waiting Tune's default period)."""
    out = {**os.environ, "RAY_TMPDIR": ray_tmpdir, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    out.pop("RAY_ADDRESS", None)
    return out


def wait_for(condition, timeout: float, log: Path, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}: " + log.read_text()[-3000:])


def final_rows(study_dir: Path) -> dict[str, pd.Series]:
    """Each trial's last report after removing the steps a retry repeated."""
    out = {}
    for t in trial_dirs(study_dir):
        progress = reports(t).drop_duplicates("step", keep="last").sort_values("step")
        assert progress["step"].tolist() == list(range(EVERY, STEPS + 1, EVERY)), (t.name, progress["step"].tolist())
        out[t.name] = progress.iloc[-1]
    return out


def uninterrupted(trial_dir: Path) -> dict:
    """The same trial run start to end in this process, one thread, as the trainable runs it."""
    cfg = trial_config(json.loads((trial_dir / "params.json").read_text()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return list(train(cfg, load_dataset(cfg.data_config())))[-1].metrics
    finally:
        torch.set_num_threads(threads)


def assert_same_as_uninterrupted(study_dir: Path):
    for name, row in final_rows(study_dir).items():
        expected = uninterrupted(study_dir / name)
        got = {k: float(row[k]) for k in COMPARED}
        np.testing.assert_allclose([got[k] for k in COMPARED], [expected[k] for k in COMPARED], rtol=1e-5, atol=1e-7,
                                   err_msg=f"{name}: {got} vs {expected}")


def restarts(trial_dir: Path) -> list[int]:
    """The step of each report that began a (re)start of the trial."""
    progress = reports(trial_dir)
    return progress.loc[progress["iterations_since_restore"] == 1, "step"].astype(int).tolist()


def kill_the_trial_process(results_dir: Path, max_failures: int, after: int, env: dict, log: Path,
                           wandb: bool = False):
    """A one-trial study whose trial process is SIGKILLed after `after` reports: (its driver, study folder)."""
    proc = driver(results_dir, "w", "--num-cpus", "1", "--max-failures", str(max_failures), env=env, log=log, trials=1,
                  wandb=wandb)
    study = results_dir / "w"
    pid = wait_for(lambda: study.exists() and [int(reports(t)["pid"].iloc[-1]) for t in trial_dirs(study)
                                               if len(reports(t)) >= after], 240, log, f"{after} reports")[0]
    os.kill(pid, signal.SIGKILL)  # the trial's own process, found by the pid it reported
    return proc, study


def test_a_killed_trial_process_resumes_from_its_checkpoint_to_the_uninterrupted_result(results_dir, env, tmp_path):
    log = tmp_path / "study.log"
    proc, study = kill_the_trial_process(results_dir, 2, 5, env, log)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    summary = json.loads((study / "study.json").read_text())
    assert summary["trials"] == 1 and summary["errored"] == 0
    (trial,) = trial_dirs(study)
    first, again = restarts(trial)
    assert first == EVERY and again > EVERY  # restarted from a checkpoint, not from the first iteration
    assert_same_as_uninterrupted(study)


def test_a_trial_that_keeps_failing_makes_the_study_exit_non_zero(results_dir, env, tmp_path):
    log = tmp_path / "study.log"
    proc, study = kill_the_trial_process(results_dir, 0, 2, env, log, wandb=True)
    assert proc.wait(timeout=600) == 1
    assert "tiny: error: 1 trial(s) errored" in log.read_text().strip().splitlines()[-1]
    assert json.loads((study / "study.json").read_text())["errored"] == 1
    # its W&B run ends failed (exit code 1), not finished and not left running
    (run,) = [files for files in segments(study).values() if read_run(files[0]).job_type == "trial"]
    assert [exit_codes(p) for p in run] == [[1]]
    assert not orphans(study)


def test_a_lost_node_reschedules_its_trial_and_the_study_completes(results_dir, ray_tmpdir, tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_TMPDIR", ray_tmpdir)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    Path(ray_tmpdir, "ray").mkdir(exist_ok=True)  # where Cluster writes its address
    node_args = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "temp_dir": ray_tmpdir}
    cluster = Cluster(initialize_head=True, head_node_args={**node_args, "include_dashboard": False})
    try:
        worker = cluster.add_node(**node_args)
        log = tmp_path / "study.log"
        env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
        proc = driver(results_dir, "n", "--address", cluster.address, "--max-failures", "2", env=env, log=log)
        study = results_dir / "n"

        def on_worker_node():
            return study.exists() and [t for t in trial_dirs(study) if len(reports(t)) >= 4
                                       and reports(t)["node_id"].iloc[-1] == worker.node_id]

        (moved,) = wait_for(on_worker_node, 240, log, "a trial with reports from the second node")
        cluster.remove_node(worker, allow_graceful=False)  # the node dies with the trial on it
        cluster.add_node(**node_args)  # a replacement joins, as an autoscaler would add one
        assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        cluster.shutdown()
    summary = json.loads((study / "study.json").read_text())
    assert summary["trials"] == 2 and summary["errored"] == 0
    final_rows(study)  # every trial reported every step
    assert reports(moved)["node_id"].nunique() >= 2  # it ran on the lost node, then on another
    assert restarts(moved)[-1] > EVERY  # from its checkpoint


def finished(trial: Path) -> bool:
    """The trial reported its last step (a resumed trial repeats the steps after its checkpoint, so its
    progress.csv can hold more than N_REPORTS rows)."""
    rows = reports(trial)
    return bool(len(rows)) and rows["step"].max() >= STEPS


def checkpoints_known(study: Path) -> bool:
    """Every started, unfinished trial has a checkpoint older than Tune's last experiment snapshot,
    and at least one trial has started: a kill now tests resuming, not starting again."""
    snapshots = list(study.glob("experiment_state-*.json")) if study.exists() else []
    if not snapshots:
        return False
    snapshot = max(p.stat().st_mtime for p in snapshots)
    started = [t for t in trial_dirs(study) if len(reports(t))]
    unfinished = [t for t in started if not finished(t)]
    return bool(unfinished) and all(
        any(c.stat().st_mtime < snapshot - 0.5 for c in t.glob("checkpoint_*/checkpoint.pt")) for t in unfinished)


def kill(proc: subprocess.Popen, ray_tmpdir: str):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stop_ray_under(ray_tmpdir)  # what the killed driver's Ray left behind, and nothing else


def between_trials(study: Path) -> bool:
    """The first trial finished and Tune knows it; the second is under way with a checkpoint Tune knows."""
    return (study.exists() and any(finished(t) for t in trial_dirs(study))
            and len(trial_dirs(study)) == 2 and checkpoints_known(study))


def test_driver_killed_twice_and_resumed_every_trial_ends_once_from_its_checkpoint(results_dir, env, ray_tmpdir,
                                                                                    tmp_path):
    """The driver is killed at two moments: at the first trial's first checkpoint that a snapshot knows, then
    (resumed) between trials, with the first finished and the second under way. One study covers both
    moments; they used to be two tests, each paying for its own study (135 s and 229 s in one suite run).
    Checkpoints are pruned all along (--keep-checkpoints 1, a snapshot every second); after the first kill
    the study also holds what a driver killed while pruning leaves: a checkpoint folder renamed `.pruned`,
    half deleted."""
    log = tmp_path / "study.log"
    study = results_dir / "k"
    proc = driver(results_dir, "k", "--num-cpus", "1", env=env, log=log)  # one CPU: the two trials in turn
    wait_for(lambda: checkpoints_known(study), 300, log, "a checkpoint in a snapshot")
    kill(proc, ray_tmpdir)
    assert not any(finished(t) for t in trial_dirs(study)), "a trial finished before the first kill"
    first = next(t for t in trial_dirs(study) if len(reports(t)))
    import shutil

    half = first / "checkpoint_000999.pruned"
    shutil.copytree(sorted(first.glob("checkpoint_0*"))[-1], half)
    (half / "checkpoint.pt").unlink()
    resume = ["--resume", "--num-cpus", "1"]
    proc = driver(results_dir, "k", *resume, env=env, log=log)
    wait_for(lambda: between_trials(study), 300, log, "the second trial, resumed")
    kill(proc, ray_tmpdir)
    assert not all(finished(t) for t in trial_dirs(study)), "finished before the second kill"
    proc = driver(results_dir, "k", *resume, env=env, log=log)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    summary = json.loads((study / "study.json").read_text())
    assert summary["trials"] == 2 and summary["errored"] == 0 and len(trial_dirs(study)) == 2
    final_rows(study)  # every step of every trial reported, each trial ending once at the last step
    for t in trial_dirs(study):  # each trial was under way at one of the kills, and resumed from its checkpoint
        starts = restarts(t)
        assert len(starts) >= 2 and starts[0] == EVERY and all(step > EVERY for step in starts[1:]), (t.name, starts)
        # Bounded: its last and its best checkpoints, and at most two the killed drivers never registered.
        progress, kept = reports(t), {p.name for p in t.glob("checkpoint_*")}
        score = progress["healthy_coverage"]  # the study metric
        best = progress.loc[score == score.max(), "checkpoint_dir_name"]
        must = {progress["checkpoint_dir_name"].iloc[-1]}
        assert must <= kept and set(best) & kept and len(kept) <= 4, (t.name, sorted(kept), sorted(must), list(best))
        assert not any(p.endswith(".pruned") for p in kept)
    assert_same_as_uninterrupted(study)


def test_a_diverging_trial_is_recorded_and_the_study_completes(results_dir):
    """A huge learning rate (10,000, the most a config allows) drives the GAN (least-squares loss), the VAE and
    IMLE to NaN/Inf within two steps; each such trial ends `diverged` with the worst metrics, and the VAE and
    IMLE at a sound rate beside them train on. The study completes without an error. Measured: at learning
    rates up to 1 the GAN and IMLE stay finite (least-squares loss_g up to 1e17 over 3,000 iterations); at
    1,000 the least-squares GAN on the ring stays finite (loss_d 1e27), and the non-saturating GAN even at
    1e6 saturates or stays finite: failed trials, not diverged ones."""
    spec = tiny_spec(space={"variant": Choice(("gan", "vae", "imle")), "lr_g": Choice((1e4, 1e-3))}, steps=20,
                     eval_every=10)
    summary = run_study(spec, study_args(results_dir, "--search", "grid", "--num-samples", "1", "--metric", "precision",
                                         "--set", "kl_weight=0", "--set", "lr_d=10000", "--set", "loss=lsgan"))
    assert summary["trials"] == 6 and summary["errored"] == 0, summary
    assert (results_dir / "t" / "study.json").exists()
    last = {(json.loads((t / "params.json").read_text())["variant"], json.loads((t / "params.json").read_text())["lr_g"]):
            reports(t).iloc[-1] for t in trial_dirs(results_dir / "t")}
    for variant in ("gan", "vae", "imle"):
        assert last[variant, 1e4]["diverged"] == 1 and last[variant, 1e4]["precision"] == 0.0, (variant, last[variant, 1e4])
    assert last["vae", 1e-3]["diverged"] == 0 and last["imle", 1e-3]["diverged"] == 0  # the GAN's D is at 10,000 there


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (a disk that fills up, or a read-only one); needs root, as in CI."""
    mounted = []

    def mount(size_mb: float, read_only: bool = False) -> Path:
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        opts = f"size={int(size_mb * 1024)}k" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def one_line_refusal(capsys, argv, spec=None) -> str:
    import ray

    start = time.time()
    code = main(spec or driver_spec(40, 10, 1), argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not ray.is_initialized() and time.time() - start < 30  # refused before Ray started
    return err


def test_unwritable_and_full_storage_are_refused_before_ray_starts(tmpfs, capsys):
    read_only = tmpfs(1, read_only=True)
    err = one_line_refusal(capsys, ["--storage", str(read_only), "--no-wandb", "--name", "s"])
    assert "cannot write there (Read-only file system)" in err
    small = tmpfs(5)
    err = one_line_refusal(capsys, ["--storage", str(small), "--no-wandb", "--name", "s"])
    assert "MB free, below --min-free-mb 500" in err


def test_a_disk_that_fills_up_mid_study_ends_in_one_line_and_keeps_what_was_written(tmpfs, env, tmp_path):
    disk = tmpfs(1)  # fills at about step 400 of the first trials (3 MB: step 1,600 of 2,000)
    log = tmp_path / "study.log"
    proc = driver(disk, "f", "--num-cpus", "2", "--min-free-mb", "0", env=env, log=log)
    assert proc.wait(timeout=600) == 1
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("tiny: error: storage: No space left on device"), last
    study = disk / "f"
    json.loads((study / "study_args.json").read_text())  # intact
    if (study / "study.json").exists():  # the pruned checkpoints freed space after the trials failed: then whole
        json.loads((study / "study.json").read_text())  # (written atomically: never in part)
    # What fitted is kept: report rows, or (on a fast machine the disk fills before Tune flushes its
    # buffered progress.csv rows) the reports' checkpoints, whole and loadable.
    def loads(path: Path) -> bool:
        try:
            return "models" in torch.load(path, weights_only=True)
        except Exception:  # a copy the full disk cut short
            return False

    kept = [c for t in trial_dirs(study) for c in t.glob("checkpoint_*/checkpoint.pt") if loads(c)]
    assert any(len(reports(t)) for t in trial_dirs(study)) or kept


def test_wandb_unreachable_falls_back_to_offline_and_its_key_lands_in_no_file(results_dir, env, ray_tmpdir, tmp_path):
    key = "mgen" + uuid.uuid4().hex + "0123"  # 40 characters, like a real key, and unique to this test
    env = {**env, "WANDB_API_KEY": key, "WANDB_BASE_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens
    env.pop("WANDB_MODE", None)
    log = tmp_path / "study.log"
    proc = driver(results_dir, "b", "--num-cpus", "2", env=env, log=log, steps=300, wandb=True)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    text = log.read_text()
    warnings = [line for line in text.splitlines() if line.startswith("warning: W&B:")]
    assert len(warnings) == 1 and "unreachable" in warnings[0] and "logging offline" in warnings[0], warnings
    runs = list((results_dir / "b").rglob("offline-run-*/run-*.wandb"))
    assert len(runs) == 3 and all(p.stat().st_size > 0 for p in runs)  # two trials and the study-level run
    leaks = []
    for root in (results_dir, Path(ray_tmpdir), tmp_path):
        for path in root.rglob("*"):
            try:
                if path.is_file() and not path.is_symlink() and key.encode() in path.read_bytes():
                    leaks.append(str(path))
            except OSError:
                continue
    assert not leaks, leaks  # not in Ray's runtime_env agent log, W&B's files, results or this log


def test_two_local_studies_at_once_each_run_on_their_own_ray(results_dir, env, ray_tmpdir, tmp_path):
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    env = {k: v for k, v in env.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}  # the study keeps Ray local itself
    procs = [driver(results_dir, name, "--num-cpus", "1", env=env, log=log, steps=1000)
             for name, log in zip(("one", "two"), logs)]
    # While both run: every process of their Rays (GCS, raylets, dashboard, monitor, workers) and the drivers
    # listen on loopback only. (Ray read its switch for this at import, before the study set it: GCS listened
    # on every interface and the dashboard and monitor on 0.0.0.0.)
    wait_for(lambda: any(len(reports(t)) for t in trial_dirs(results_dir / "one"))
             if (results_dir / "one").exists() else False, 300, logs[0], "a report of the first study")
    # On a fast machine the first report can come before the second Ray has started all its processes:
    # wait until both Rays' processes are up (at least 8 with the drivers), then read their sockets.
    def both_rays():
        pids = set(processes_naming(ray_tmpdir)) | {p.pid for p in procs}
        return pids if len(pids) >= 8 else None

    pids = wait_for(both_rays, 120, logs[1], "both studies' Ray processes")
    addresses = listening_addresses(pids)
    assert addresses and addresses <= {"127.0.0.1", "::1"}, addresses
    for proc, log in zip(procs, logs):
        assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    for name in ("one", "two"):
        summary = json.loads((results_dir / name / "study.json").read_text())
        assert summary["trials"] == 2 and summary["errored"] == 0
    sessions = [p for p in Path(ray_tmpdir, "ray").glob("session_2*") if p.is_dir() and not p.is_symlink()]
    assert len(sessions) == 2, sessions  # two private Rays; neither joined the other's


def test_resume_refuses_a_tampered_tuner_pkl_and_runs_no_code(results_dir, tmp_path, capsys):
    args = study_args(results_dir, "--search", "grid", "--num-samples", "1", "--name", "p")
    err = one_line_refusal(capsys, [*args, "--name", "nope", "--resume"])
    assert "no restorable study" in err and not (results_dir / "nope").exists()  # and no folder left behind
    assert main(driver_spec(40, 10, 1), args) == 0
    study = results_dir / "p"
    original = (study / "tuner.pkl").read_bytes()
    marker = tmp_path / "marker"
    (study / "tuner.pkl").write_bytes(pickle.dumps(Marker(marker)))
    capsys.readouterr()
    err = one_line_refusal(capsys, [*args, "--resume"])
    assert "--resume refused" in err and "tuner.pkl changed" in err
    assert not marker.exists()
    (study / "tuner.pkl").write_bytes(original)
    os.chmod(study, 0o777)
    err = one_line_refusal(capsys, [*args, "--resume"])
    assert "writable by others" in err
    os.chmod(study, 0o755)
    assert main(driver_spec(40, 10, 1), [*args, "--resume"]) == 0  # the study's own files: resumed
    assert "warning" not in capsys.readouterr().err


def test_a_vae_driven_to_nan_in_a_study_ends_diverged_not_errored(results_dir, env, tmp_path):
    """The baselines study's VAE at learning rate 1 with Adam's averaging off, in a real study process: its
    decoder's output goes NaN at step 2 and each trial ends `diverged` (ranked last); the study exits 0.
    Before: binary_cross_entropy raised on the NaN output, the trials errored and the study exited 1 (issue
    #30). The GAN and IMLE stay finite at the largest learning rate a config allows; their NaN path is
    tested with a NaN weight (tests/train/test_trial.py)."""
    log = tmp_path / "nan.log"
    argv = [sys.executable, "studies/baselines.py", "--budget", "small", "--data", "motifs", "--num-cpus", "2",
            "--only", "variant=vae", "--num-samples", "2", "--set", "lr_g=1", "--set", "beta1_g=0",
            "--set", "beta2_g=0", "--set", "steps=40", "--set", "eval_every=20", "--set", "g_width=16",
            "--set", "z_dim=16", "--set", "eval_samples=64", "--no-wandb", "--storage", str(results_dir),
            "--name", "nan"]
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, timeout=600)
    assert done.returncode == 0, log.read_text()[-3000:]
    summary = json.loads((results_dir / "nan" / "study.json").read_text())
    assert summary["trials"] == 2 and summary["errored"] == 0 and summary["diverged"] == 2, summary["ranked"]
    assert all(row["best"] == -1.0 for row in summary["ranked"])


def test_a_driver_killed_alone_leaves_no_ray_no_running_optuna_trial_after_resume(results_dir, env, ray_tmpdir,
                                                                                   tmp_path):
    """SIGKILL to the driver process only (as an OOM killer or a closed terminal does): its private Ray
    lives on. The resume of that study stops those processes by the ids the study recorded, and when it
    ends no trial of its Optuna search is left RUNNING in optuna.db: each finished once."""
    import optuna
    import psutil

    from mgen.study.processes import RECORD

    log = tmp_path / "study.log"
    study = results_dir / "z"
    proc = driver(results_dir, "z", "--num-cpus", "1", "--search", "optuna", "--num-samples", "2", env=env, log=log,
                  steps=600, wandb=True)
    wait_for(lambda: checkpoints_known(study), 300, log, "a checkpoint in a snapshot")
    recorded = json.loads((study / RECORD).read_text())["processes"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    alive = [r["pid"] for r in recorded if psutil.pid_exists(r["pid"])]
    assert alive, "the killed driver's Ray should still run before the resume"
    ot = optuna.load_study(study_name="z", storage=f"sqlite:///{study / 'optuna.db'}")
    assert any(t.state == optuna.trial.TrialState.RUNNING for t in ot.trials)
    proc = driver(results_dir, "z", "--resume", "--num-cpus", "1", env=env, log=log, steps=600, wandb=True)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    assert "Ray process(es) an earlier, killed driver of this study left running" in log.read_text()
    assert not [pid for pid in alive if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    ot = optuna.load_study(study_name="z", storage=f"sqlite:///{study / 'optuna.db'}")
    states = [t.state for t in ot.trials]
    assert optuna.trial.TrialState.RUNNING not in states, states
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2, states
    summary = json.loads((study / "study.json").read_text())
    assert summary["trials"] == 2 and summary["errored"] == 0
    # each trial's W&B run ends: the killed driver's segments have no end, the resumed trials' last ones do
    runs = segments(study)
    trials = [files for files in runs.values() if read_run(files[-1]).job_type == "trial"]
    assert len(trials) == 2 and not orphans(study), {k: [exit_codes(p) for p in v] for k, v in runs.items()}
    assert all(exit_codes(files[-1]) == [0] for files in trials)
