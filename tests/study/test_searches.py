"""Every search on every budget of every study script: it is set up as Tune and Optuna will run it, or
refused in one line before Ray starts (issue #30: --search optuna on gan_collapse's smoke budget ended
inside Tune in "Dim of point ... do not match")."""
import importlib.util
from pathlib import Path

import pytest

from mgen.errors import UserError
from mgen.study.flags import parse_args
from mgen.study.plan import plan_study
from mgen.study.space import Choice, LogUniform
from mgen.study.tuner import param_space, search_algorithm

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def study_spec(name: str):
    spec = importlib.util.spec_from_file_location(f"study_{name}", STUDIES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SPEC


CASES = [(name, budget, search, objectives)
         for name in sorted(p.stem for p in STUDIES.glob("*.py"))
         for budget in study_spec(name).budgets
         for search in ("grid", "random", "optuna")
         for objectives in ((None, "healthy_coverage:max,music_overlap:max") if search == "optuna" else (None,))]


@pytest.mark.parametrize("name,budget,search,objectives", CASES)
def test_each_search_on_each_budget_is_set_up_or_refused_in_one_line(tmp_path, name, budget, search, objectives):
    spec = study_spec(name)
    argv = ["--budget", budget, "--search", search, "--storage", str(tmp_path), "--name", "s", "--no-wandb"]
    if objectives:
        argv += ["--objectives", objectives]
    try:
        plan = plan_study(spec, parse_args(spec, argv))
    except UserError as exc:  # refused before Ray starts: one line that names the flag
        assert "\n" not in str(exc) and "--" in str(exc)
        return
    alg = search_algorithm(plan)
    metric, mode = plan.study_metric
    # What Tune does with the searcher when the study starts: the space and the preset points are checked here.
    alg.set_search_properties(None if plan.objectives else metric, None if plan.objectives else mode,
                              param_space(plan))
    if search == "optuna":
        assert alg._ot_study is not None  # the Optuna study exists, its warm-start points accepted
        suggested = alg.suggest("t0")
        searched = [k for k, d in plan.space.items() if isinstance(d, (Choice, LogUniform))]
        assert suggested is not None and all(k in suggested for k in searched)
    else:
        from ray.tune.experiment import Experiment

        alg.add_configurations([Experiment("s", lambda config: None, config=param_space(plan),
                                           num_samples=plan.num_samples + len(plan.controls) + len(plan.references))])
        first = alg.next_trial()
        assert first is not None and all(k in first.config for k in plan.space)


def test_a_set_that_a_reference_recipe_does_not_take_is_said_before_ray_starts(tmp_path, capsys):
    from mgen.study.run import tune_study

    argv = ["--budget", "smoke", "--set", "lr_g=1", "--set", "steps=40", "--storage", str(tmp_path), "--name", "s",
            "--min-free-mb", "1e12", "--no-wandb"]
    with pytest.raises(UserError, match="min-free-mb"):  # refused at the storage check, before any Ray
        tune_study(study_spec("baselines"), argv)
    err = capsys.readouterr().err
    assert "note: --set lr_g applies to this study's own trials" in err and "steps" not in err.split("note:")[1]
    with pytest.raises(UserError):
        tune_study(study_spec("gan_collapse"), argv + ["--no-references"])
    assert "note:" not in capsys.readouterr().err  # no reference recipe in that study


def test_an_optuna_study_keeps_as_many_trials_pending_as_fit_at_once(tmp_path, local_ray, monkeypatch):
    """Tune keeps one trial pending for any searcher but its own (benchmarks/scale.py: 1.86 s of driver overhead
    a trial at 500 tiny Optuna trials, 0.19 s for a grid); mgen makes it as many as fit, for the study's run only,
    and keeps a value the user set. Read back through Tune's own function, on the searcher Tune wraps."""
    import os

    from ray.tune.execution.tune_controller import _get_max_pending_trials
    from ray.tune.search import SearchGenerator

    from mgen.study.tuner import pending_trials

    monkeypatch.delenv("TUNE_MAX_PENDING_TRIALS_PG", raising=False)
    spec = study_spec("gan_collapse")

    def plan_of(*flags):
        return plan_study(spec, parse_args(spec, ["--budget", "smoke", "--storage", str(tmp_path), "--name", "s",
                                                  "--no-wandb", *flags]))

    optuna_plan = plan_of("--search", "optuna")
    searcher = SearchGenerator(search_algorithm(optuna_plan))
    assert _get_max_pending_trials(searcher) == 1  # Tune's default
    with pending_trials(optuna_plan):
        assert _get_max_pending_trials(searcher) == 2  # the fixture's Ray: 2 CPUs, 1 a trial
    with pending_trials(plan_of("--search", "optuna", "--cpus-per-trial", "2")):
        assert _get_max_pending_trials(searcher) == 1
    assert "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ  # the study's run only
    with pending_trials(plan_of("--search", "grid")):
        assert "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ  # Tune's own generator: 200 already
    with pending_trials(plan_of("--search", "optuna", "--max-concurrent", "1")):  # Tune keeps the limit's number
        assert "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ
    monkeypatch.setenv("TUNE_MAX_PENDING_TRIALS_PG", "7")
    with pending_trials(optuna_plan):
        assert _get_max_pending_trials(searcher) == 7
