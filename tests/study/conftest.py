"""Tiny study specs on real data and a real local Ray (each study starts and stops its own)."""
import pytest

from mgen.study import Budget, Choice, LogUniform, StudySpec

TINY = {"g_width": 16, "d_width": 16, "batch_size": 64, "eval_samples": 200, "data_n_samples": 2000}


def tiny_spec(space=None, steps=40, eval_every=10, **kw) -> StudySpec:
    return StudySpec(name="tiny", description="tiny test study",
                     space=space or {"dg_ratio": Choice(("1:1", "2:1")), "lr_d": LogUniform(1e-4, 1e-3)},
                     budgets={"smoke": Budget({**TINY, "steps": steps, "eval_every": eval_every}, num_samples=2)},
                     fixed={"method": "gan"}, default_data="ring", **kw)


@pytest.fixture
def results_dir(tmp_path):
    return tmp_path / "results"


def study_args(results_dir, *extra):
    return ["--storage", str(results_dir), "--no-wandb", "--num-cpus", "2", "--name", "t", *extra]
