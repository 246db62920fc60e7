"""Study flags and YAML config files, checked without starting Ray."""
import re

import pytest

from mgen.errors import UserError
from mgen.study import Budget, Choice, LogUniform
from mgen.study.flags import parse_args
from mgen.study.plan import plan_study
from tests.study.conftest import tiny_spec


def test_yaml_config_sets_flags_and_trial_fields_and_flags_override_it(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text("search: optuna\nnum_samples: 7\nscheduler: asha\nno_wandb: true\n"
                      "set:\n  batch_size: 16\n  lr_g: 0.0005\n")
    args = parse_args(tiny_spec(), ["--config", str(config), "--num-samples", "3", "--storage", str(tmp_path)])
    assert (args.search, args.num_samples, args.scheduler, args.no_wandb) == ("optuna", 3, "asha", True)
    plan = plan_study(tiny_spec(), args)
    assert plan.fixed["batch_size"] == 16 and plan.fixed["lr_g"] == 0.0005
    assert "lr_g" not in plan.space and plan.num_samples == 3


def test_yaml_config_with_unknown_keys_or_bad_values_fails_clearly(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("serach: grid\n")
    with pytest.raises(UserError, match="unknown key\\(s\\) serach; valid: "):
        parse_args(tiny_spec(), ["--config", str(bad)])
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("set:\n  d_steps: 0\n")
    with pytest.raises(UserError, match="config d_steps=0 is out of range"):
        plan_study(tiny_spec(), parse_args(tiny_spec(), ["--config", str(wrong), "--storage", str(tmp_path)]))
    with pytest.raises(UserError, match="does not exist"):
        parse_args(tiny_spec(), ["--config", str(tmp_path / "missing.yaml")])


def test_every_flag_has_help_a_new_user_can_follow(capsys):
    with pytest.raises(SystemExit):
        parse_args(tiny_spec(), ["--help"])
    text = capsys.readouterr().out
    for flag in ("--budget", "--search", "--num-samples", "--data", "--gpus-per-trial", "--storage", "--resume",
                 "--config", "--objectives", "--no-wandb", "ray job submit"):
        assert flag in text


def test_ratios_and_exponents_read_as_written_in_yaml_and_set_flags(tmp_path):
    # YAML 1.1 reads 1:5 as the base-60 number 65 and 1e-4 as a string; a user means "1:5" and 0.0001.
    config = tmp_path / "study.yaml"
    config.write_text("set:\n  dg_ratio: 1:5\n  lr_d: 1e-4\n")
    args = parse_args(tiny_spec(), ["--config", str(config), "--set", "lr_g=3e-4", "--storage", str(tmp_path)])
    plan = plan_study(tiny_spec(), args)
    assert plan.fixed["dg_ratio"] == "1:5" and plan.fixed["lr_d"] == 1e-4 and plan.fixed["lr_g"] == 3e-4
    args = parse_args(tiny_spec(), ["--set", "dg_ratio=5:1", "--storage", str(tmp_path)])
    assert plan_study(tiny_spec(), args).fixed["dg_ratio"] == "5:1"
    broken = tmp_path / "broken.yaml"
    broken.write_text("set: [unclosed\n")
    with pytest.raises(UserError, match="is not valid YAML"):
        parse_args(tiny_spec(), ["--config", str(broken)])


def test_only_runs_a_slice_of_the_space(tmp_path):
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1", "2:1", "1:5")), "lr_d": LogUniform(1e-4, 1e-3),
                            "seed": Choice((0, 1, 2))})
    plan = plan_study(spec, parse_args(spec, ["--only", "dg_ratio=1:1,1:5", "--only", "seed=0", "--only",
                                              "lr_d=2e-4", "--storage", str(tmp_path)]))
    assert plan.space == {"dg_ratio": Choice(("1:1", "1:5")), "lr_d": Choice((2e-4,)), "seed": Choice((0,))}
    for bad, message in ((["--only", "dg_ratio=3:1"], "--only dg_ratio='3:1' is not one of its values; valid: 1:1, 2:1, 1:5"),
                         (["--only", "lr_d=0.1"], "--only lr_d=0.1 is not one of its values; valid: 0.0001 to 0.001"),
                         (["--only", "batch_size=8"], "--only batch_size: not a searched dimension")):
        with pytest.raises(UserError, match=re.escape(message)):
            plan_study(spec, parse_args(spec, [*bad, "--storage", str(tmp_path)]))


def test_only_widens_what_a_budget_fixes_to_the_studys_values_and_seed_to_any_seeds(tmp_path):
    """The smoke grid fixes seed 0 and one learning rate; --only seed=... runs it over seeds (and its
    positive control once per seed), --only lr_d takes the study's range, not the budget's constant."""
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1", "2:1", "1:5")), "lr_d": LogUniform(1e-4, 1e-3),
                            "seed": Choice((0, 1, 2))},
                     control={"dg_ratio": "1:1", "lr_d": 5e-4})
    spec.budgets["smoke"] = Budget(spec.budgets["smoke"].overrides, num_samples=1, search="grid",
                                   space={"lr_d": 2e-4, "seed": 0})
    plan = plan_study(spec, parse_args(spec, ["--only", "seed=0,3,7", "--storage", str(tmp_path)]))
    assert plan.space["seed"] == Choice((0, 3, 7))
    assert sorted(c["seed"] for c in plan.controls) == [0, 3, 7]
    plan = plan_study(spec, parse_args(spec, ["--only", "lr_d=2e-4,5e-4", "--storage", str(tmp_path)]))
    assert plan.space["lr_d"] == Choice((2e-4, 5e-4))
    for bad, message in ((["--only", "lr_d=0.1"], "--only lr_d=0.1 is not one of its values; valid: 0.0001 to 0.001"),
                         (["--only", "seed=-1"], "--only seed=-1 is invalid; seeds are integers from 0"),
                         (["--set", "seed=1", "--only", "seed=2,3"], "--only seed and --set seed contradict each other")):
        with pytest.raises(UserError, match=re.escape(message)):
            plan_study(spec, parse_args(spec, [*bad, "--storage", str(tmp_path)]))


def test_options_are_built_once_frozen_and_resolved_without_changing_what_was_given(tmp_path, monkeypatch):
    import dataclasses
    import json

    from mgen.study.options import StudyOptions

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MGEN_RESULTS", raising=False)
    config = tmp_path / "study.yaml"
    config.write_text("set:\n  dg_ratio: 1:5\n  lr_d: 1e-4\n")
    given = parse_args(tiny_spec(), ["--config", str(config), "--set", "lr_g=3e-4"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        given.search = "grid"
    plan = plan_study(tiny_spec(), given)
    assert (given.search, given.mode, given.storage, given.name, given.resolved) == (None, None, None, None, False)
    opts = plan.options
    assert opts.resolved and opts.search == "random" and opts.mode == "max"
    assert opts.storage == str(tmp_path / "results") and opts.name.startswith("tiny-ring-smoke-")
    assert plan_study(tiny_spec(), opts).options == opts  # resolving twice changes nothing
    # What study_args.json keeps (a YAML `set:` turns into [field, value] lists) plans the same study on --resume.
    again = StudyOptions.from_flags({**json.loads(json.dumps(opts.to_json())), "old_flag_of_an_older_mgen": 1})
    assert again == opts and plan_study(tiny_spec(), again).fixed == plan.fixed
