"""A study of hundreds of tiny trials: what the driver, Tune's snapshots, W&B and Optuna cost at scale.

Run: python benchmarks/scale.py [--trials 500] [--searches grid,optuna] [--steps 4] [--eval-every 2] [--wandb] [--beside]
    [--keep DIR]
Searches are grid, random or optuna, and each with `-before`: what a fix of issue #30 changed, as it was,
so that e.g. `--searches grid-before,grid` measures the fix at the study level, before and after in one run.
A search with `+wandb` runs with W&B offline on, so `--searches grid,grid+wandb` measures what W&B costs a
study, side by side; `--wandb` turns it on for all. A search ending in `@REV` runs mgen as it was at commit
REV (a git worktree on the child's PYTHONPATH): `grid+wandb@163808f` is W&B as Ray's callback logs it, two
actors a trial, before mgen's one logging actor a study.
`grid-before` (or `random-before`): the record of finished trials in optuna.db as it was until commit 6cd8a4f
(a new SQLite storage and a scan of every recorded trial, per trial: benchmarks/optuna_record.py).
`optuna-before`: Tune's one pending trial for a searcher (TUNE_MAX_PENDING_TRIALS_PG=1), mgen's until
mgen.study.tuner.pending_trials.
Each search runs one local study (its own private Ray, 2 trials at a time on 2 cores) of `--trials` tiny
GAN trials on the motifs corpus (width 16, `--steps` iterations, a report and checkpoint every
`--eval-every`), as its own process, one after the other in one run. Printed for each:

- trials per minute, and the driver's overhead a trial: (wall x trials at once - the trials' own
  time_total_s) / trials, i.e. the share of the cores no trial used;
- Tune's experiment-state snapshot: its size at the end, how many saves and their mean and longest time
  (TuneController.save_to_dir, timed in the study's process);
- the driver's peak memory (RSS, polled every 0.5 s), files and bytes a trial, W&B offline runs, optuna.db,
  and how often the study's log says "database is locked";
- with `--beside`: optuna-dashboard on the study's optuna.db, asked every second for the study and its trials,
  and the report built every `--report-every` s while the study runs (benchmarks/beside.py): requests,
  failures, latencies, reports built and marked partial.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from beside import Beside  # benchmarks/beside.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]


def study(args) -> None:
    """The child: one study, with Tune's snapshot saves timed."""
    from ray.tune.execution.tune_controller import TuneController

    import mgen
    from mgen.study import Budget, Choice, LogUniform, StudySpec
    from mgen.studies import main

    print(f"scale.py: mgen from {Path(mgen.__file__).parent}", flush=True)

    saves = []
    original = TuneController.save_to_dir

    def timed(self, *a, **k):
        start = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            saves.append(time.perf_counter() - start)

    TuneController.save_to_dir = timed
    if args.before and args.search == "optuna":
        os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = "1"  # Tune's default for any searcher but grid and random
    elif args.before:
        from mgen.study.optuna_record import OptunaRecord

        opened = OptunaRecord._study

        def reopened(self):  # the old record: the study opened, and its every trial scanned, per finished trial
            self._opened = None
            return opened(self)

        OptunaRecord._study = reopened
    tiny = {"g_width": 16, "d_width": 16, "z_dim": 16, "batch_size": 32, "eval_samples": 64, "data_n_samples": 512,
            "steps": args.steps, "eval_every": args.eval_every}
    space = ({"seed": Choice(tuple(range(args.trials)))} if args.search == "grid"
             else {"lr_d": LogUniform(1e-4, 1e-3), "lr_g": LogUniform(2e-4, 2e-3), "seed": Choice(tuple(range(10)))})
    spec = StudySpec(name="scale", description="scale benchmark", space=space, fixed={"method": "gan"},
                     budgets={"smoke": Budget(tiny, num_samples=1 if args.search == "grid" else args.trials)},
                     default_data="motifs")
    argv = ["--storage", args.storage, "--name", args.name, "--search", args.search, "--num-cpus", "2",
            "--no-collapse-stop", *([] if args.wandb else ["--no-wandb"])]
    code = main(spec, argv)
    Path(args.storage, args.name, "snapshot_saves.json").write_text(json.dumps(saves))
    sys.exit(code)


def measure(args, search: str, storage: str) -> dict:
    import psutil

    name = f"scale-{search}".replace("+", "-with-").replace("@", "-at-")
    search, _, rev = search.partition("@")
    search, plus, _ = search.partition("+wandb")
    search, _, before = search.partition("-")
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--search", search, *(["--before"] if before else []), "--storage", storage, "--name", name,
            "--trials", str(args.trials), "--steps", str(args.steps), "--eval-every", str(args.eval_every)]
    if args.wandb or plus:
        argv.append("--wandb")
    tree = ROOT
    if rev:  # mgen as it was at that commit: this script's child imports it from a worktree
        tree = Path(storage) / f"mgen-at-{rev}"
        if not tree.exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), rev], check=True)
    start = time.perf_counter()
    log = Path(storage) / f"{name}.log"
    # Ray's workers put the driver's working directory first on their path: the tree is both
    proc = subprocess.Popen(argv, cwd=tree, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(tree)})
    beside = Beside(Path(storage) / name, every=1.0, report_every=args.report_every).start() if args.beside else None
    peak = 0
    driver = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, driver.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.5)
    wall = time.perf_counter() - start
    tools = beside.stop() if beside else {}
    folder = Path(storage) / name
    trials = [p for p in folder.iterdir() if p.is_dir() and (p / "params.json").exists()]
    own = 0.0
    for t in trials:
        lines = (t / "result.json").read_text().splitlines()
        if lines:
            own += json.loads(lines[-1]).get("time_total_s", 0.0)
    files = [f for t in trials for f in t.rglob("*") if f.is_file()]
    snapshot = max(folder.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime, default=None)
    saves = json.loads((folder / "snapshot_saves.json").read_text()) if (folder / "snapshot_saves.json").exists() else []
    checkpoints = [c for t in trials for c in t.glob("checkpoint_*")]
    complete = running = 0
    if (folder / "optuna.db").exists():
        import optuna

        ot = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'optuna.db'}")
        complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in ot.trials)
        running = sum(t.state == optuna.trial.TrialState.RUNNING for t in ot.trials)
    wandb_runs = len(list((folder / "wandb").glob("offline-run-*"))) if (folder / "wandb").exists() else 0
    from mgen.study.wandb_offline import orphans

    unfinished = len(orphans(folder)) if wandb_runs else 0  # runs without an end record (left "running")
    return {"search": name[len("scale-"):], "exit": proc.returncode, "trials": len(trials), "wall_s": wall,
            "trials_per_min": 60 * len(trials) / wall, "own_s_per_trial": own / max(1, len(trials)),
            "overhead_s_per_trial": (2 * wall - own) / max(1, len(trials)),
            "snapshot_kb": snapshot.stat().st_size / 1024 if snapshot else 0.0, "snapshot_saves": len(saves),
            "snapshot_save_mean_ms": 1000 * sum(saves) / max(1, len(saves)), "snapshot_save_max_ms": 1000 * max(saves, default=0),
            "driver_peak_mb": peak / 2**20, "files_per_trial": len(files) / max(1, len(trials)),
            "kb_per_trial": sum(f.stat().st_size for f in files) / 1024 / max(1, len(trials)),
            "wandb_offline_runs": wandb_runs, "wandb_unfinished": unfinished, "checkpoints_per_trial": len(checkpoints) / max(1, len(trials)),
            "optuna_complete": complete, "optuna_running": running,
            "optuna_db_kb": (folder / "optuna.db").stat().st_size / 1024 if (folder / "optuna.db").exists() else 0.0,
            "database_locked": log.read_text(errors="replace").count("database is locked"), **tools}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=500)
    p.add_argument("--searches", default="grid,optuna")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--eval-every", type=int, default=2)
    p.add_argument("--wandb", action="store_true", help="W&B offline on (default off)")
    p.add_argument("--beside", action="store_true",
                   help="optuna-dashboard polled every second and the report built every --report-every s, beside each study")
    p.add_argument("--report-every", type=float, default=60.0)
    p.add_argument("--keep", help="keep the studies' folders here (default: a temporary folder, removed)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--search", help=argparse.SUPPRESS)
    p.add_argument("--before", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--storage", help=argparse.SUPPRESS)
    p.add_argument("--name", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return study(args)
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mgen-scale-") as scratch:
        storage = str(Path(args.keep).resolve()) if args.keep else scratch
        try:
            rows = [measure(args, s, storage) for s in args.searches.split(",")]
        finally:
            for tree in Path(storage).glob("mgen-at-*"):
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    for r in rows:
        print(f"{r['search']}: {r['trials']} trials (exit {r['exit']}) in {r['wall_s']:.0f} s, "
              f"{r['trials_per_min']:.1f} trials/min; a trial's own time {r['own_s_per_trial']:.2f} s, the driver's "
              f"overhead {r['overhead_s_per_trial']:.2f} s a trial (2 cores); snapshot {r['snapshot_kb']:.0f} KB, "
              f"{r['snapshot_saves']} saves, mean {r['snapshot_save_mean_ms']:.0f} ms, longest "
              f"{r['snapshot_save_max_ms']:.0f} ms; driver peak RSS {r['driver_peak_mb']:.0f} MB; "
              f"{r['files_per_trial']:.1f} files, {r['checkpoints_per_trial']:.1f} checkpoints and {r['kb_per_trial']:.0f} KB "
              f"a trial; "
              f"{r['wandb_offline_runs']} W&B offline runs ({r['wandb_unfinished']} without an end); optuna.db {r['optuna_db_kb']:.0f} KB; "
              f"'database is locked' {r['database_locked']} times"
              + (f"; beside it: optuna-dashboard answered {r['requests']} requests ({r['request_errors']} failed, median "
                 f"{r['latency_median_ms'] or 0:.0f} ms, longest {r['latency_max_ms'] or 0:.0f} ms, {r['trials_seen']} trials "
                 f"seen last), {r['reports_built']} reports built ({r['reports_partial']} partial, {r['reports_failed']} failed)"
                 if "requests" in r else ""))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
