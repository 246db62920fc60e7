"""Runs a killed trial or driver leaves without an end: found and ended as crashed (real W&B offline, real kills)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap

from mgen.study.wandb_offline import RUN_FILES, close_orphans, items, orphans, read_run, records, segments

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


def test_one_logging_actor_keeps_many_trials_runs_at_once_each_whole_and_in_order(tmp_path, local_ray):
    """The study's one W&B actor (WandbHub) with six runs open at once and their results interleaved, as
    trials running side by side send them: each run gets its own results in order, its config, and its end
    (failed trials exit 1), all from one process."""
    import ray
    from ray.air.integrations.wandb import _QueueItem

    from mgen.metrics.registry import WANDB_QUIET
    from mgen.study.wandb_log import WandbHub

    hub = ray.remote(num_cpus=0)(WandbHub).remote()
    trials = [f"trial{i}" for i in range(6)]
    for i, trial in enumerate(trials):
        hub.start.remote(trial, dict(id=trial, name=trial, project="p", group="g", job_type="trial", mode="offline",
                                     dir=str(tmp_path), reinit="create_new", config={"i": i}, settings=WANDB_QUIET))
    for step in range(4):
        for i, trial in enumerate(trials):
            constants = {"real/pitch_range": 12.0} if step == 0 else {}
            hub.put.remote(trial, (_QueueItem.RESULT, ({"step": step, "train/loss_d": 10.0 * i + step}, constants)))
    for i, trial in enumerate(trials):
        hub.put.remote(trial, (_QueueItem.END, {"failed": i % 3 == 0}))
    assert ray.get(hub.finish.remote(120)) == 0  # every run finished
    pid = ray.get(hub.__ray_call__.remote(lambda self: os.getpid()))
    ray.kill(hub)
    files = sorted(tmp_path.glob(RUN_FILES))
    assert len(files) == len(trials)
    runs = {read_run(path).name: path for path in files}
    assert sorted(runs) == trials
    for i, trial in enumerate(trials):
        run = read_run(runs[trial])
        assert [h["train/loss_d"] for h in run.history] == [10.0 * i + step for step in range(4)]
        assert [h["step"] for h in run.history] == [0, 1, 2, 3]
        assert exit_codes(runs[trial]) == [1 if i % 3 == 0 else 0]
        config = {}
        for r in records(runs[trial]):  # the run's first config, then its updates
            kind = r.WhichOneof("record_type")
            if kind in ("run", "config"):
                config.update(items((r.run.config if kind == "run" else r.config).update))
        assert config["i"] == i and config["real/pitch_range"] == 12.0
    logged_from = {int(m) for path in tmp_path.glob("wandb/offline-run-*/logs/debug.log")
                   for m in re.findall(r"Configure stats pid to (\d+)", path.read_text())}
    assert logged_from == {pid}  # every run, from the one actor's process
