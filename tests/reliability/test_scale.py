"""The scale benchmark cut down (benchmarks/scale.py: 500 tiny trials there, 8 here), grid and Optuna (with
W&B offline): every trial ends, each once in optuna.db and none RUNNING, each with its W&B run, and
checkpoints stay bounded (--keep-checkpoints 1) while each trial reports several times. Beside each study,
optuna-dashboard is asked for the study every second and the report is built while it runs: no request fails, the study never meets a locked database, and a report
built while it runs says it is partial. Times are printed by the benchmark, never asserted."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_a_cut_down_scale_study_runs_every_search_and_keeps_its_records_whole(ray_tmpdir):
    import os

    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "benchmarks/scale.py", "--trials", "8", "--steps", "6", "--eval-every", "2",
                           "--searches", "grid,optuna+wandb", "--beside", "--report-every", "4"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = {r["search"]: r for r in json.loads(done.stdout.strip().splitlines()[-1])}
    for search in ("grid", "optuna-with-wandb"):
        r = rows[search]
        assert r["exit"] == 0 and r["trials"] == 8, r
        # with W&B: a run a trial and the study's, each ended
        assert r["wandb_offline_runs"] == (9 if "wandb" in search else 0) and r["wandb_unfinished"] == 0, r
        assert r["optuna_db_kb"] > 0 and r["snapshot_saves"] >= 1, r
        assert r["optuna_complete"] == 8 and r["optuna_running"] == 0, r
        assert r["checkpoints_per_trial"] <= 2, r  # 3 reports a trial, each with a checkpoint; the last and best kept
        assert r["database_locked"] == 0 and r["requests"] >= 3 and r["request_errors"] == 0, r
        assert r["trials_seen"] >= 1, r  # the dashboard saw the study's trials while it ran
        # A report finished before the study wrote study.json says it is partial (whether one gets built that
        # early in a 20-second study is a race; tests/analysis checks the note on a study without study.json).
        assert r["reports_failed"] == 0 and r["reports_partial"] >= r["reports_while_running"], r
