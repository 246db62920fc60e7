"""What recording a finished trial in the study's optuna.db costs the driver, as trials add up.

Run: python benchmarks/optuna_record.py [--trials 500]
Tune calls a study's callbacks on its driver's one loop, so a slow record holds up every trial. Side by side
in one run, each into its own fresh optuna.db, the same `--trials` finished trials are recorded:
- before (the record until commit 6cd8a4f): per trial, a new SQLite storage and `create_study(load_if_exists)`,
  then a scan of every recorded trial for the Tune id (so that a trial a killed driver recorded is not
  recorded twice);
- now (mgen.study.optuna_record.OptunaRecord): the study opened once a driver, the recorded ids read once.
Printed: each one's total, its mean over the first and last 50 trials, and the ratio of totals.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import types
from pathlib import Path

import optuna

from mgen.study import Choice, LogUniform
from mgen.study.optuna_record import OptunaRecord, distribution, sqlite_storage

SPACE = {"lr_d": LogUniform(1e-4, 1e-3), "seed": Choice(tuple(range(10)))}


def before(db: Path, trial_id: str, params: dict, value: float) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=sqlite_storage(db), study_name="s", load_if_exists=True, direction="maximize")
    if any(t.user_attrs.get("tune_trial_id") == trial_id for t in study.get_trials(deepcopy=False)):
        return
    study.add_trial(optuna.trial.create_trial(
        params=params, distributions={k: distribution(SPACE[k]) for k in params}, value=value,
        intermediate_values={10: value}, user_attrs={"tune_trial_id": trial_id}))


def run(trials: int, folder: Path) -> dict[str, list[float]]:
    trial_list = [types.SimpleNamespace(trial_id=f"t{i:05d}", config={"lr_d": 1e-4 * (1 + i % 9), "seed": i % 10})
                  for i in range(trials)]
    times = {"before": [], "now": []}
    record = OptunaRecord(folder / "now.db", "s", SPACE, "m", "max")
    record.setup()
    for trial in trial_list:
        start = time.perf_counter()
        before(folder / "before.db", trial.trial_id, trial.config, 0.5)
        times["before"].append(time.perf_counter() - start)
        record.on_trial_result(0, [], trial, {"m": 0.5, "step": 10})
        start = time.perf_counter()
        record.on_trial_complete(0, [], trial)
        times["now"].append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=500)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mgen-record-") as folder:
        times = run(args.trials, Path(folder))
        counts = {k: len(optuna.load_study(study_name="s", storage=f"sqlite:///{folder}/{k}.db").trials) for k in times}
    k = min(50, args.trials)
    for name, t in times.items():
        print(f"{name}: {args.trials} trials recorded ({counts[name]} in optuna.db) in {sum(t):.1f} s; "
              f"{1000 * sum(t[:k]) / k:.0f} ms a trial over the first {k}, {1000 * sum(t[-k:]) / k:.0f} ms over the last {k}")
    print(f"before / now: {sum(times['before']) / sum(times['now']):.1f}x")


if __name__ == "__main__":
    main()
