"""Studies on a real local Ray: search algorithms, ASHA, the collapse stopper, resume and bad flags."""
import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import ray
import yaml

from mgen.errors import UserError
from mgen.study import Choice, LogUniform
from mgen.studies import run_study
from mgen.study.callbacks import CollapseStopper
from mgen.study.trainable import trial_config
from tests.study.conftest import (
    reports,
    study_args,
    tiny_spec,
    trial_dirs,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_invalid_flags_fail_before_ray_starts(results_dir, own_ray):
    spec = tiny_spec()
    bad = [["--data", "mozart"], ["--set", "lr_d=-1"], ["--set", "loss=wasserstein"],
           ["--objectives", "coverage:up", "--search", "optuna"], ["--objectives", "coverage:max"],
           ["--num-samples", "0"], ["--set", "nonsense"], ["--metric", "covrage"],
           ["--metric", "jsd", "--mode", "max"], ["--metric", "notes_per_bar"],
           ["--objectives", "jsd:max", "--search", "optuna"], ["--resume", "--name", "nope"], ["--population", "0"],
           ["--only", "dg_ratio=7:1"], ["--only", "lr_d=1"], ["--only", "loss=hinge"], ["--only", "seed"]]
    import torch

    if not torch.cuda.is_available():
        bad.append(["--gpus-per-trial", "1"])  # more GPUs than this machine has: refused before Ray
    for extra in bad:
        start = time.perf_counter()
        with pytest.raises(UserError):
            run_study(spec, study_args(results_dir, *extra))
        assert time.perf_counter() - start < 10 and not ray.is_initialized(), extra
    assert not results_dir.exists()
    # The script itself prints one line and exits 2; its --help does not start or import Ray.
    out = subprocess.run([sys.executable, "studies/gan_collapse.py", "--data", "mozart", "--no-wandb"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "gan_collapse: error: unknown data set 'mozart'; valid: bach, celtic, fiddle, essen, midi:PATH, motifs, ring, grid"]
    code = "import runpy, sys; sys.argv = ['x', '--help']\ntry: runpy.run_path('studies/gan_collapse.py', run_name='__main__')\n" \
           "except SystemExit: pass\nprint('ray imported:', 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "--gpus-per-trial" in out.stdout and "ray imported: False" in out.stdout, out.stdout[-500:] + out.stderr


def test_mgen_cli_version_and_bad_generate_counts(capsys):
    from mgen import __version__
    from mgen.cli import main as mgen_main

    with pytest.raises(SystemExit) as exit_:
        mgen_main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"mgen {__version__}"
    assert mgen_main(["generate", "nowhere.pt", "--n", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mgen: error: --n 0 is invalid; give the number of bars to generate, 1 or more (e.g. --n 32)")


def test_a_reused_worker_gives_the_same_metrics_as_a_fresh_one(results_dir, own_ray):
    # The grid's one config three times on one CPU: trials 2 and 3 run in the worker trial 1 used.
    spec = tiny_spec(space={"dg_ratio": Choice(("1:2",))}, steps=30)
    summary = run_study(spec, study_args(results_dir, "--search", "grid", "--num-samples", "3", "--num-cpus", "1"))
    assert summary["trials"] == 3 and summary["errored"] == 0
    runs = [reports(t) for t in trial_dirs(results_dir / "t")]
    assert len({int(r["pid"].iloc[0]) for r in runs}) == 1, "the worker was not reused"
    metrics = ["loss_d", "loss_g", "coverage", "precision", "modes_captured", "high_quality", "z_sensitivity"]
    for other in runs[1:]:
        pd.testing.assert_frame_equal(runs[0][metrics], other[metrics])
    assert not ray.is_initialized()  # the study stopped the Ray it started


def test_optuna_search_runs_with_sqlite_storage_and_valid_configs(local_ray, results_dir, capsys):
    summary = run_study(tiny_spec(), study_args(results_dir, "--search", "optuna", "--num-samples", "3",
                                                "--objectives", "coverage:max,precision:max", "--no-collapse-stop",
                                                "--num-cpus", "1"))
    # It ran on the Ray this process had (a notebook's, here the module's), said that --num-cpus could not
    # apply, and left that Ray running: a study stops only a Ray it started.
    assert ray.is_initialized()
    note = "note: --num-cpus 1 has no effect: this process's Ray is already running, with 2 CPUs"
    assert note in capsys.readouterr().err
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


def test_optuna_trades_coverage_against_chord_adherence(local_ray, results_dir):
    """Multi-objective Optuna on coverage x adherence: every trial completes with both values in the
    storage, including a silent early generator (whose adherence counts as 0, not NaN)."""
    spec = tiny_spec(space={"conditioning": Choice(("none", "chord/1d", "chord/2d")), "lr_d": LogUniform(1e-4, 1e-3)},
                     steps=20, eval_every=10)
    summary = run_study(spec, study_args(results_dir, "--data", "motifs", "--search", "optuna", "--num-samples", "3",
                                         "--objectives", "coverage:max,chord_adherence:max", "--no-collapse-stop",
                                         "--set", "data_n_samples=512", "--set", "eval_samples=64"))
    assert summary["trials"] == 3 and summary["errored"] == 0
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{results_dir / 't' / 'optuna.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE"]
    assert all(t.state == optuna.trial.TrialState.COMPLETE and all(v == v for v in t.values) for t in study.trials)
    for trial in trial_dirs(results_dir / "t"):
        last = reports(trial).iloc[-1]
        assert -5 < last["chord_adherence"] < 5 and "ctnctr_gain_real" in last


def test_asha_stops_weak_trials_early(local_ray, results_dir):
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


def test_collapse_stopper_stops_a_collapsed_trial_and_not_a_healthy_one(local_ray, results_dir):
    # Unit: consecutive collapsed reports only.
    stopper = CollapseStopper(patience=2)
    assert [stopper("a", {"collapsed": c}) for c in (1, 0, 1, 1)] == [False, False, False, True]
    # Collapsed: a GAN whose G barely moves (lr_g 1e-7) puts the ring's samples in a few bins.
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1",))}, steps=60, eval_every=10)
    run_study(spec, study_args(results_dir, "--search", "grid", "--collapse-patience", "2", "--set", "lr_g=1e-7"))
    collapsed = reports(trial_dirs(results_dir / "t")[0])
    assert len(collapsed) == 2 and collapsed["collapsed"].tolist() == [1.0, 1.0]
    # Not collapsed (a young VAE on motifs with independent sigmoid cells, not its recipe's output: varied
    # noise, failed but diverse) runs to the end: the stopper acts on collapse, not on a trial that has not
    # learnt yet.
    spec = tiny_spec(space={"variant": Choice(("vae",))}, steps=60, eval_every=10)
    run_study(spec, study_args(results_dir, "--data", "motifs", "--search", "grid", "--collapse-patience", "2",
                               "--name", "h", "--set", "lr_g=0.002", "--set", "g_output=sigmoid",
                               "--set", "z_dim=16", "--set", "batch_size=32",
                               "--set", "data_n_samples=512", "--set", "eval_samples=128"))
    diverse = reports(trial_dirs(results_dir / "h")[0])
    assert len(diverse) == 6 and diverse["collapsed"].tolist() == [0.0] * 6 and diverse["failed"].iloc[0] == 1.0


def test_random_search_samples_the_same_configs_with_the_same_seed(local_ray, results_dir):
    spec = tiny_spec(steps=10, eval_every=10)
    sampled = []
    for name in ("a", "b"):
        run_study(spec, study_args(results_dir, "--search", "random", "--num-samples", "2", "--name", name))
        sampled.append([json.loads((t / "params.json").read_text()) for t in trial_dirs(results_dir / name)])
    assert sampled[0] == sampled[1] and sampled[0][0]["lr_d"] != sampled[0][1]["lr_d"], sampled


def test_summary_marks_failed_and_collapsed_trials_and_warns_when_none_is_healthy(local_ray, results_dir, capsys):
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


def test_positive_controls_run_once_per_seed_and_are_reported(local_ray, results_dir):
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
    # A control outside an --only slice runs and is reported, and stays out of the Optuna record (Optuna
    # refuses a value outside the slice's distribution: the driver used to end in that traceback).
    summary = run_study(grid, study_args(results_dir, "--search", "grid", "--name", "s", "--num-samples", "1",
                                         "--only", "dg_ratio=2:1"))
    assert summary["trials"] == 3 and len(summary["controls"]) == 1
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{results_dir / 's' / 'optuna.db'}")
    assert sorted(t.params["lr_d"] for t in study.trials) == [5e-4, 1e-3]
    assert all(t.params["dg_ratio"] == "2:1" for t in study.trials)


def test_reference_rows_run_each_baseline_recipe_once_per_seed_on_the_studys_footing(local_ray, results_dir, capsys):
    from mgen.train.config import FOOTING, RECIPES

    spec = tiny_spec(space={"dg_ratio": Choice(("1:1", "1:5")), "lr_g": LogUniform(1e-4, 1e-3), "seed": Choice((0, 1))},
                     steps=10, eval_every=10, references=("vae", "imle"))
    args = ["--data", "motifs", "--search", "random", "--num-samples", "2", "--set", "data_n_samples=512",
            "--set", "eval_samples=64", "--set", "z_dim=16"]
    summary = run_study(spec, study_args(results_dir, *args))
    out = capsys.readouterr().out
    # Two sampled GAN trials are the study's; four reference rows (2 methods x 2 seeds) stand beside them.
    assert summary["trials"] == 2 and len(summary["ranked"]) == 2
    assert sorted((x["method"], x["seed"]) for x in summary["references"]) == [("imle", 0), ("imle", 1), ("vae", 0), ("vae", 1)]
    assert "reference rows (each method's recipe" in out and "VAE   s0 " in out and "IMLE  s0 " in out
    saved = json.loads((results_dir / "t" / "study.json").read_text())
    assert [x["trial_id"] for x in saved["references"]] == [x["trial_id"] for x in summary["references"]]
    # Each reference trial trained its recipe on exactly the GAN trials' footing.
    gan = yaml.safe_load(next(c for c in (results_dir / "t").glob("trainable_*/checkpoint_*/config.yaml")
                              if yaml.safe_load(c.read_text())["method"] == "gan").read_text())
    for ref in summary["references"]:
        config = yaml.safe_load(Path(ref["best_checkpoint"], "config.yaml").read_text())
        assert {k: config[k] for k in FOOTING if k != "seed"} == {k: gan[k] for k in FOOTING if k != "seed"}
        assert {k: config[k] for k in RECIPES[ref["method"]]} == RECIPES[ref["method"]]
    # --no-references leaves them out; an Optuna search does not get them (its sampler would learn from them).
    plain = run_study(spec, study_args(results_dir, *args, "--name", "plain", "--no-references"))
    assert plain["references"] == [] and plain["trials"] == 2
    from mgen.study.flags import parse_args
    from mgen.study.plan import plan_study

    optuna_args = study_args(results_dir, *args, "--name", "o").copy()
    optuna_args[optuna_args.index("random")] = "optuna"
    assert plan_study(spec, parse_args(spec, optuna_args)).references == []
    assert len(plan_study(spec, parse_args(spec, study_args(results_dir, *args, "--name", "r"))).references) == 4
