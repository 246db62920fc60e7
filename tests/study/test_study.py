"""Studies on a real local Ray: search algorithms, ASHA, the collapse stopper, resume and bad flags."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from mgen.errors import UserError
from mgen.study import Choice, LogUniform, run_study
from mgen.study.callbacks import CollapseStopper
from mgen.study.trainable import trial_config
from tests.study.conftest import stop_ray_under, study_args, tiny_spec

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def trial_dirs(study_dir: Path) -> list[Path]:
    return sorted(p for p in study_dir.iterdir() if p.is_dir() and p.name.startswith("trainable_"))


def reports(trial_dir: Path) -> pd.DataFrame:
    path = trial_dir / "progress.csv"
    return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()


def test_invalid_flags_fail_before_ray_starts(results_dir):
    import ray

    spec = tiny_spec()
    bad = [["--data", "mozart"], ["--set", "lr_d=-1"], ["--set", "loss=wasserstein"],
           ["--objectives", "coverage:up", "--search", "optuna"], ["--objectives", "coverage:max"],
           ["--num-samples", "0"], ["--set", "nonsense"], ["--metric", "covrage"],
           ["--metric", "jsd", "--mode", "max"], ["--metric", "notes_per_bar"],
           ["--objectives", "jsd:max", "--search", "optuna"]]
    for extra in bad:
        start = time.perf_counter()
        with pytest.raises(UserError):
            run_study(spec, study_args(results_dir, *extra))
        assert time.perf_counter() - start < 10 and not ray.is_initialized(), extra
    assert not results_dir.exists()
    # The script itself prints one line and exits 2.
    out = subprocess.run([sys.executable, "studies/gan_collapse.py", "--data", "mozart", "--no-wandb"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "gan_collapse: error: unknown data set 'mozart'; valid: bach, celtic, fiddle, essen, midi:PATH, motifs, ring, grid"]


def test_optuna_search_runs_with_sqlite_storage_and_valid_configs(results_dir):
    summary = run_study(tiny_spec(), study_args(results_dir, "--search", "optuna", "--num-samples", "3",
                                                "--objectives", "coverage:max,precision:max", "--no-collapse-stop"))
    study_dir = results_dir / "t"
    assert summary["trials"] == 3 and summary["errored"] == 0
    for trial in trial_dirs(study_dir):
        config = json.loads((trial / "params.json").read_text())
        cfg = trial_config(config)  # every sampled config is a valid trial config
        assert 1e-4 <= cfg.lr_d <= 1e-3 and (cfg.d_steps, cfg.g_steps) in ((1, 1), (2, 1))
        assert len(reports(trial)) == 4 and (trial / "checkpoint_000003" / "checkpoint.pt").exists()
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{study_dir / 'optuna.db'}")
    assert len(study.trials) == 3 and len(study.directions) == 2
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_asha_stops_weak_trials_early(results_dir):
    # The grid runs the four lr_g=1e-3 trials first; the lr_g=1e-5 ones that follow score far lower at
    # every rung, so ASHA (asynchronous: it compares with trials seen so far) stops them early.
    spec = tiny_spec(space={"lr_d": Choice((1e-5, 3e-5, 1e-4, 3e-4)), "lr_g": Choice((1e-3, 1e-5))},
                     steps=80, eval_every=10)
    # A metric that varies continuously between trials, so the rungs have a real cut-off.
    run_study(spec, study_args(results_dir, "--search", "grid", "--num-samples", "1", "--scheduler", "asha",
                               "--max-concurrent", "2", "--metric", "z_sensitivity", "--no-collapse-stop"))
    lengths = [len(reports(t)) for t in trial_dirs(results_dir / "t")]
    assert len(lengths) == 8
    assert max(lengths[:4]) == 8 and max(lengths[4:]) < 8, lengths


def test_collapse_stopper_stops_a_collapsed_trial_and_not_a_healthy_one(results_dir):
    # Unit: consecutive collapsed reports only.
    stopper = CollapseStopper(patience=2)
    assert [stopper("a", {"collapsed": c}) for c in (1, 0, 1, 1)] == [False, False, False, True]
    # Collapsed: a GAN whose G barely moves (lr_g 1e-7) puts the ring's samples in a few bins.
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1",))}, steps=60, eval_every=10)
    run_study(spec, study_args(results_dir, "--search", "grid", "--collapse-patience", "2", "--set", "lr_g=1e-7"))
    collapsed = reports(trial_dirs(results_dir / "t")[0])
    assert len(collapsed) == 2 and collapsed["collapsed"].tolist() == [1.0, 1.0]
    # Not collapsed (a young VAE on motifs: varied noise, failed but diverse) runs to the end: the stopper
    # acts on collapse, not on a trial that has not learnt yet.
    spec = tiny_spec(space={"variant": Choice(("vae",))}, steps=60, eval_every=10)
    run_study(spec, study_args(results_dir, "--data", "motifs", "--search", "grid", "--collapse-patience", "2",
                               "--name", "h", "--set", "lr_g=0.002", "--set", "z_dim=16", "--set", "batch_size=32",
                               "--set", "data_n_samples=512", "--set", "eval_samples=128"))
    diverse = reports(trial_dirs(results_dir / "h")[0])
    assert len(diverse) == 6 and diverse["collapsed"].tolist() == [0.0] * 6 and diverse["failed"].iloc[0] == 1.0


def test_resume_after_killing_the_driver_accounts_for_every_trial(results_dir, tmp_path, ray_tmpdir):
    argv = [sys.executable, "studies/gan_collapse.py", "--data", "ring", "--search", "grid", "--no-wandb",
            "--storage", str(results_dir), "--name", "r", "--num-cpus", "2", "--no-collapse-stop", "--num-samples", "1",
            "--set", "steps=2000",  # long enough that Tune snapshots a checkpoint before the kill
            "--set", "eval_every=200", "--set", "g_width=16", "--set", "d_width=16", "--set", "eval_samples=200",
            "--set", "conditioning=none", "--set", "g_output=sigmoid", "--set", "seed=0", "--set", "lr_d=0.0002", "--set", "lr_g=0.0002"]
    log = open(tmp_path / "first.log", "w")
    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir}  # its Ray's processes are findable, and only they
    driver = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    study_dir = results_dir / "r"
    deadline = time.time() + 240
    def saved_before_snapshot() -> list[Path]:
        """Trials with a checkpoint older than Tune's last experiment snapshot (taken every ~10 s):
        the ones a resume knows the checkpoint of."""
        snapshots = list(study_dir.glob("experiment_state-*.json")) if study_dir.exists() else []
        if not snapshots:
            return []
        snapshot = max(p.stat().st_mtime for p in snapshots)
        return [t for t in trial_dirs(study_dir)
                if any(c.stat().st_mtime < snapshot - 1 for c in t.glob("checkpoint_*/checkpoint.pt"))]

    while time.time() < deadline:  # wait until a snapshot knows a checkpoint, then kill the driver hard
        if any(len(reports(t)) < 10 for t in saved_before_snapshot()):
            break
        time.sleep(0.5)
    else:
        pytest.fail("no checkpoint appeared: " + (tmp_path / "first.log").read_text()[-3000:])
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    known = saved_before_snapshot()
    stop_ray_under(ray_tmpdir)  # what the killed driver's Ray left behind, and nothing else
    unfinished = [t for t in trial_dirs(study_dir) if len(reports(t)) < 10]
    assert unfinished, "the study finished before it was killed; nothing to resume"
    checkpointed = [t for t in unfinished if t in known]
    assert checkpointed, "no unfinished trial had a checkpoint to resume from"
    resumed = subprocess.run([sys.executable, "studies/gan_collapse.py", "--resume", "--name", "r", "--no-wandb",
                              "--storage", str(results_dir), "--num-cpus", "2", "--data", "ring"],
                             cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = json.loads((study_dir / "study.json").read_text())
    assert summary["trials"] == 6 and summary["errored"] == 0  # the smoke grid: 3 D/G ratios x 2 D norms
    for trial in trial_dirs(study_dir):
        steps = reports(trial)["step"].tolist()
        assert steps[-1] == 2000, (trial.name, steps)
    for trial in checkpointed:  # continued from its checkpoint, not from the first iteration
        progress = reports(trial)
        restarts = progress.index[progress["iterations_since_restore"] == 1].tolist()
        assert len(restarts) == 2 and progress.loc[restarts[1], "step"] > 200, progress[["step", "iterations_since_restore"]]


def test_a_failed_trial_retries_from_its_last_checkpoint(results_dir, tmp_path):
    argv = [sys.executable, "studies/gan_collapse.py", "--data", "ring", "--search", "grid", "--no-wandb",
            "--storage", str(results_dir), "--name", "f", "--num-cpus", "2", "--no-collapse-stop",
            "--num-samples", "1", "--max-failures", "2", "--set", "dg_ratio=1:1", "--set", "d_norm=spectral", "--set", "conditioning=none", "--set", "g_output=sigmoid",
            "--set", "seed=0", "--set", "lr_d=0.0002", "--set", "lr_g=0.0002", "--set", "steps=600",
            "--set", "eval_every=40", "--set", "g_width=16", "--set", "d_width=16", "--set", "eval_samples=200"]
    log = open(tmp_path / "study.log", "w")
    driver = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    study_dir = results_dir / "f"
    deadline = time.time() + 240
    while time.time() < deadline and not (study_dir.exists() and any(
            (t / "checkpoint_000002").is_dir() for t in trial_dirs(study_dir))):
        time.sleep(0.5)
    def is_trial_worker(pid: str) -> bool:  # the trial actor's process title: ray::trainable.* (ray::ImplicitFunc)
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="ignore")
        except OSError:
            return False
        return cmd.startswith("ray::trainable") or cmd.startswith("ray::ImplicitFunc")

    workers = [int(p) for p in os.listdir("/proc") if p.isdigit() and is_trial_worker(p)]
    assert workers, "no trial worker found: " + (tmp_path / "study.log").read_text()[-2000:]
    for pid in workers:  # the trial's process dies: a failure, not a clean stop
        os.kill(pid, signal.SIGKILL)
    assert driver.wait(timeout=600) == 0, (tmp_path / "study.log").read_text()[-3000:]
    summary = json.loads((study_dir / "study.json").read_text())
    assert summary["trials"] == 1 and summary["errored"] == 0
    progress = reports(trial_dirs(study_dir)[0])
    assert progress["step"].iloc[-1] == 600
    restarts = progress.index[progress["iterations_since_restore"] == 1].tolist()
    assert len(restarts) == 2, progress[["step", "iterations_since_restore"]]
    # After the restart the trial continued from a checkpoint, not from the first iteration.
    assert progress.loc[restarts[1], "step"] > 40


def test_a_reused_worker_gives_the_same_metrics_as_a_fresh_one(results_dir):
    # The grid's one config three times on one CPU: trials 2 and 3 run in the worker trial 1 used.
    spec = tiny_spec(space={"dg_ratio": Choice(("1:2",))}, steps=30)
    summary = run_study(spec, study_args(results_dir, "--search", "grid", "--num-samples", "3", "--num-cpus", "1"))
    assert summary["trials"] == 3 and summary["errored"] == 0
    runs = [reports(t) for t in trial_dirs(results_dir / "t")]
    assert len({int(r["pid"].iloc[0]) for r in runs}) == 1, "the worker was not reused"
    metrics = ["loss_d", "loss_g", "coverage", "precision", "modes_captured", "high_quality", "z_sensitivity"]
    for other in runs[1:]:
        pd.testing.assert_frame_equal(runs[0][metrics], other[metrics])


def test_random_search_samples_the_same_configs_with_the_same_seed(results_dir):
    spec = tiny_spec(steps=10, eval_every=10)
    sampled = []
    for name in ("a", "b"):
        run_study(spec, study_args(results_dir, "--search", "random", "--num-samples", "2", "--name", name))
        sampled.append([json.loads((t / "params.json").read_text()) for t in trial_dirs(results_dir / name)])
    assert sampled[0] == sampled[1] and sampled[0][0]["lr_d"] != sampled[0][1]["lr_d"], sampled


def test_summary_marks_failed_and_collapsed_trials_and_warns_when_none_is_healthy(results_dir, capsys):
    # Ten iterations of a GAN on motifs learn nothing: every trial must be marked, and the best one
    # must not be presented as a finding.
    spec = tiny_spec(steps=10, eval_every=10)
    summary = run_study(spec, study_args(results_dir, "--data", "motifs", "--search", "grid"))
    out = capsys.readouterr().out
    assert summary["metric"] == "healthy_coverage" and summary["mode"] == "max"
    assert summary["healthy"] == 0 and summary["best_healthy"] is None
    assert {x["status"] for x in summary["ranked"]} <= {"failed", "collapsed"} and summary["ranked"]
    assert all(x["best"] < 0 for x in summary["ranked"])  # healthy_coverage: coverage - 1 when not healthy
    assert f"[{summary['ranked'][0]['status'].upper()}]" in out
    assert "warning: the best trial was" in out and "no trial was healthy" in out
    saved = json.loads((results_dir / "t" / "study.json").read_text())
    assert saved["healthy"] == 0 and saved["ranked"][0]["status"] == summary["ranked"][0]["status"]


def test_positive_controls_run_once_per_seed_and_are_reported(results_dir):
    control = {"dg_ratio": "1:1", "lr_d": 5e-4}
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1", "2:1")), "lr_d": LogUniform(1e-4, 1e-3),
                            "seed": Choice((0, 1))}, steps=10, eval_every=10, control=control)
    summary = run_study(spec, study_args(results_dir, "--search", "random", "--num-samples", "1"))
    # One sampled trial plus one control per seed of the space.
    assert summary["trials"] == 3 and len(summary["controls"]) == 2
    assert sorted(c["params"]["seed"] for c in summary["controls"]) == [0, 1]
    assert all(c["params"]["dg_ratio"] == "1:1" and c["params"]["lr_d"] == 5e-4 for c in summary["controls"])
    assert summary["controls_passed"] is False  # ten iterations learn nothing: the study must say so
    saved = json.loads((results_dir / "t" / "study.json").read_text())
    assert saved["controls"] == json.loads(json.dumps(summary["controls"]))
    # A grid that already holds the control runs it once, as one of its cells.
    grid = tiny_spec(space={"dg_ratio": Choice(("1:1", "2:1")), "lr_d": Choice((5e-4, 1e-3))}, steps=10,
                     eval_every=10, control=control)
    summary = run_study(grid, study_args(results_dir, "--search", "grid", "--name", "g", "--num-samples", "1"))
    assert summary["trials"] == 4 and len(summary["controls"]) == 1


def test_a_diverging_trial_is_recorded_and_the_study_completes(results_dir):
    # A VAE at learning rate 1 goes NaN within a few steps; the other trial is sound.
    spec = tiny_spec(space={"variant": Choice(("vae",)), "lr_g": Choice((1.0, 1e-3))}, steps=20, eval_every=10)
    summary = run_study(spec, study_args(results_dir, "--search", "grid", "--num-samples", "1", "--metric", "precision",
                                         "--set", "kl_weight=0"))
    assert summary["trials"] == 2 and summary["errored"] == 0 and summary["diverged"] == 1
    assert (results_dir / "t" / "study.json").exists()
    diverged = [r for r in map(reports, trial_dirs(results_dir / "t")) if r["diverged"].iloc[-1] == 1]
    assert len(diverged) == 1 and diverged[0]["precision"].iloc[-1] == 0.0
