"""Runs a killed trial or driver leaves without an end: found and ended as crashed (real W&B offline, real kills)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from mgen.study.wandb_offline import close_orphans, orphans, records, segments

SCRIPT = textwrap.dedent("""
    import os, signal, sys, time, wandb
    folder, run_id, end = sys.argv[1:]
    run = wandb.init(project="p", group="g", id=run_id, resume="allow", mode="offline", dir=folder,
                     settings=wandb.Settings(silent=True, console="off"))
    for i in range(3):
        run.log({"a": i})
    if end == "kill":
        time.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)
    run.finish()
""")


def offline_run(folder, run_id: str, end: str) -> None:
    """One process logging one run segment. Without WANDB_SERVICE: an earlier test's wandb.init in this process
    sets it, and a child that inherits it shares this process's wandb-core, which keeps a killed child's run open
    ("run ID ... is in use" for the next segment), as two trial processes of a study never do."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), run_id, end], env={**env, "WANDB_MODE": "offline"})
    assert proc.returncode == (-signal.SIGKILL if end == "kill" else 0)


def exit_codes(path) -> list[int]:
    return [r.exit.exit_code for r in records(path) if r.WhichOneof("record_type") == "exit"]


def test_a_killed_runs_last_segment_is_ended_crashed_and_finished_runs_are_left_alone(tmp_path):
    offline_run(tmp_path, "finished", "finish")
    offline_run(tmp_path, "killed", "kill")
    offline_run(tmp_path, "resumed", "kill")
    offline_run(tmp_path, "resumed", "finish")  # a resumed trial: its later segment ends the run
    assert [len(v) for k, v in sorted(segments(tmp_path).items())] == [1, 1, 2]
    assert set(orphans(tmp_path)) == {"killed"}

    assert close_orphans(tmp_path, project="p") == 1
    assert orphans(tmp_path) == {}
    killed = segments(tmp_path)["killed"]
    assert len(killed) == 2 and exit_codes(killed[0]) == [] and exit_codes(killed[-1]) == [1]
    run = next(r.run for r in records(killed[-1]) if r.WhichOneof("record_type") == "run")
    assert (run.run_id, run.project) == ("killed", "p")
    assert [exit_codes(p) for p in segments(tmp_path)["finished"]] == [[0]]
    assert close_orphans(tmp_path, project="p") == 0  # once only
