"""Tiny study specs on real data and a real local Ray (each study starts and stops its own)."""
from pathlib import Path

import pandas as pd
import pytest

from mgen.study import Budget, Choice, LogUniform, StudySpec

TINY = {"g_width": 16, "d_width": 16, "batch_size": 64, "eval_samples": 200, "data_n_samples": 2000}


def tiny_spec(space=None, steps=40, eval_every=10, **kw) -> StudySpec:
    return StudySpec(name="tiny", description="tiny test study",
                     space=space or {"dg_ratio": Choice(("1:1", "2:1")), "lr_d": LogUniform(1e-4, 1e-3)},
                     budgets={"smoke": Budget({**TINY, "steps": steps, "eval_every": eval_every}, num_samples=2)},
                     fixed={"method": "gan"}, default_data="ring", **kw)


def trial_dirs(study_dir: Path) -> list[Path]:
    return sorted(p for p in study_dir.iterdir() if p.is_dir() and p.name.startswith("trainable_"))


def reports(trial_dir: Path) -> pd.DataFrame:
    """A trial's progress.csv as Tune wrote it (a retried trial repeats the steps after its checkpoint)."""
    path = trial_dir / "progress.csv"
    try:
        return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()
    except pd.errors.EmptyDataError:  # caught while Tune writes it (tests poll running studies)
        return pd.DataFrame()


@pytest.fixture
def results_dir(tmp_path):
    return tmp_path / "results"


def study_args(results_dir, *extra):
    return ["--storage", str(results_dir), "--no-wandb", "--num-cpus", "2", "--name", "t", *extra]


def processes_naming(path: str) -> list[int]:
    """Processes, other than this one, whose command line names `path` (Ray's name their RAY_TMPDIR)."""
    import os

    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="ignore")
        except OSError:
            continue
        if path in cmd and int(pid) != os.getpid():
            pids.append(int(pid))
    return pids


def stop_ray_under(temp_dir: str, timeout: float = 30.0) -> int:
    """Stop the Ray processes whose command line names `temp_dir` (their RAY_TMPDIR): the ones this test
    started, and no other Ray on the machine (`ray stop` would kill a user's own cluster). Returns how many."""
    from cluster.local_cluster import terminate

    found = processes_naming(temp_dir)
    terminate(lambda: processes_naming(temp_dir), timeout)
    return len(found)


@pytest.fixture
def ray_tmpdir():
    """A private, short RAY_TMPDIR (Ray's socket paths must stay under 107 bytes); its Ray processes are
    stopped, and only they, when the test ends."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    yield path
    stop_ray_under(path)
    shutil.rmtree(path, ignore_errors=True)
