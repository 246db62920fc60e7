"""Studies with --population: members of one batched model, each its own Tune trial."""
import pytest

from mgen.data import load_dataset
from mgen.study import Choice, LogUniform
from mgen.studies import run_study
from mgen.study.trainable import trial_config
from mgen.train import train
from tests.study.conftest import reports, study_args, tiny_spec, trial_dirs

pytestmark = pytest.mark.slow


def params_of(trial_dir) -> dict:
    import json

    return json.loads((trial_dir / "params.json").read_text())


def test_a_population_study_reports_each_member_as_its_own_trial(local_ray, results_dir):
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1", "3:1")), "seed": Choice((0, 1))}, steps=40, eval_every=10)
    summary = run_study(spec, study_args(results_dir, "--search", "grid", "--num-samples", "1", "--population", "4",
                                         "--population-wait", "5",
                                         "--no-collapse-stop"))
    assert summary["trials"] == 4 and summary["errored"] == 0
    trials = trial_dirs(results_dir / "t")
    configs = {(p["dg_ratio"], p["seed"]) for p in map(params_of, trials)}
    assert configs == {("1:1", 0), ("1:1", 1), ("3:1", 0), ("3:1", 1)}
    for trial in trials:
        progress = reports(trial)
        assert progress["step"].tolist() == [10, 20, 30, 40]
        # Room for four, but a group's members share their D/G schedule: two models of two.
        assert progress["population_size"].tolist() == [2] * 4
        # Its own metrics: what its config trained alone reports (the batched model sums in another order).
        cfg = trial_config(params_of(trial) | {k: v for k, v in spec.fixed.items()} | spec.budgets["smoke"].overrides
                           | {"data": "ring"})
        alone = [r.metrics for r in train(cfg, load_dataset(cfg.data_config()))]
        assert progress["d_updates"].tolist() == [a["d_updates"] for a in alone]
        for key in ("loss_d", "loss_g"):
            assert progress[key].tolist() == pytest.approx([a[key] for a in alone], rel=1e-2, abs=1e-3), key
    # Members are not copies of one another.
    assert len({round(reports(t)["loss_d"].iloc[-1], 6) for t in trials}) == 4


def test_asha_stops_members_and_their_population_trains_on(local_ray, results_dir):
    # As test_asha_stops_weak_trials_early, with the eight trials in one population: the ones ASHA stops
    # are left out of the batched model, the others run to the end.
    spec = tiny_spec(space={"lr_d": Choice((1e-5, 3e-5, 1e-4, 3e-4)), "lr_g": Choice((1e-3, 1e-5))},
                     steps=80, eval_every=10)
    summary = run_study(spec, study_args(results_dir, "--search", "grid", "--num-samples", "1", "--scheduler", "asha",
                                         "--metric", "z_sensitivity", "--no-collapse-stop", "--population", "8",
                                         "--population-wait", "5"))
    assert summary["errored"] == 0
    runs = [reports(t) for t in trial_dirs(results_dir / "t")]
    lengths = sorted(len(r) for r in runs)
    assert len(runs) == 8 and lengths[0] < 8 and lengths[-1] == 8, lengths
    assert all(set(r["population_size"]) == {8} for r in runs)


def test_optuna_searches_population_members_one_trial_at_a_time(local_ray, results_dir):
    import optuna

    spec = tiny_spec(space={"lr_d": LogUniform(1e-4, 1e-3), "seed": Choice((0, 1, 2))}, steps=20, eval_every=10)
    summary = run_study(spec, study_args(results_dir, "--search", "optuna", "--num-samples", "3", "--population", "3",
                                         "--population-wait", "5", "--no-collapse-stop"))
    assert summary["trials"] == 3 and summary["errored"] == 0
    assert all(set(reports(t)["population_size"]) == {3} for t in trial_dirs(results_dir / "t"))
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{results_dir / 't' / 'optuna.db'}")
    assert len(study.trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len({t.params["lr_d"] for t in study.trials}) == 3  # three suggestions, each a member


def test_groups_share_a_schedule_and_hold_one_trials_cpus_unless_on_a_gpu():
    from mgen.study.population import group_cpus, group_key

    base = trial_config({"data": "ring"})
    assert group_key(base) == group_key(trial_config({"data": "ring", "lr_d": 1e-3, "seed": 3}))
    assert group_key(base) != group_key(trial_config({"data": "ring", "d_steps": 3}))
    assert group_key(trial_config({"data": "ring", "loss": "wgan-gp"})) is None  # trains alone
    assert group_cpus(cpus=1, gpus=0, members=16, cap=2) == 1  # CPUs only: one trial's, one thread
    assert group_cpus(cpus=2, gpus=0, members=16, cap=8) == 2
    assert group_cpus(cpus=1, gpus=0.25, members=4, cap=16) == 4  # on a GPU: its members' CPUs
    assert group_cpus(cpus=1, gpus=0.25, members=32, cap=16) == 16  # at most one node's
