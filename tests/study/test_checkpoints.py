"""Bounded checkpoints (--keep-checkpoints): a real study keeps a trial's last, its best and what Tune's
snapshot names, not every report's; 0 keeps every one. Resume after a kill with pruning on is tested in
tests/reliability/test_faults.py."""
import json

import pytest

from mgen.study import Choice
from mgen.studies import run_study
from tests.study.conftest import reports, study_args, tiny_spec, trial_dirs

pytestmark = pytest.mark.slow
STEPS, EVERY = 60, 5  # 12 reports, each with a checkpoint


def checkpoints(trial) -> list[str]:
    return sorted(p.name for p in trial.iterdir() if p.is_dir() and p.name.startswith("checkpoint_"))


def study(results_dir, name, *flags):
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1", "2:1"))}, steps=STEPS, eval_every=EVERY)
    args = study_args(results_dir, "--search", "grid", "--num-samples", "1", "--no-collapse-stop", *flags)
    args[args.index("t")] = name
    summary = run_study(spec, args)
    assert summary["trials"] == 2 and summary["errored"] == 0
    return results_dir / name, summary


def test_a_study_keeps_each_trials_last_and_best_checkpoint_and_says_how_much_disk(local_ray, results_dir, monkeypatch):
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "1")  # many snapshots, so pruning runs while trials train
    folder, summary = study(results_dir, "kept")
    for trial in trial_dirs(folder):
        progress = reports(trial)
        assert len(progress) == STEPS // EVERY
        kept = checkpoints(trial)
        last = progress["checkpoint_dir_name"].iloc[-1]
        best = progress["checkpoint_dir_name"].iloc[progress["healthy_coverage"].idxmax()]  # the first best
        assert set(kept) == {last, best}, (kept, last, best)  # nothing else survives the study's end
        assert not [p for p in trial.iterdir() if p.name.endswith(".pruned")]
    saved = json.loads((folder / "study.json").read_text())
    assert saved["disk"]["keep_checkpoints"] == 1 and saved["disk"]["trials"] == 2
    assert 0 < saved["disk"]["mean_mb"] <= saved["disk"]["max_mb"]

    everything, summary_all = study(results_dir, "all", "--keep-checkpoints", "0")
    for trial in trial_dirs(everything):
        assert len(checkpoints(trial)) == STEPS // EVERY
    assert summary_all["disk"]["mean_mb"] > 2 * summary["disk"]["mean_mb"]
