"""Every study in Optuna storage: grid and random studies too, so `optuna-dashboard` browses any of them.

An Optuna search writes its own study (OptunaSearch with the same SQLite file). For grid and random
search, this Tune callback adds each finished trial to an Optuna study of the same name in
`<results>/<study>/optuna.db`: its searched params (with their distributions), its reports as
intermediate values by training step, and its best value of the study metric (in the metric's
direction); an errored trial is recorded as FAIL, one without a value as PRUNED. Reference rows (a VAE or
IMLE recipe beside a GAN map) and trials outside the space (a positive control outside an --only slice)
are not points of the space and are left out: Optuna refuses a value outside a parameter's distribution.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ray import tune

from mgen.study.plan import reference_method
from mgen.study.space import Choice, LogUniform, contains


SQLITE_TIMEOUT_S = 60.0  # how long a write waits for a reader's lock (optuna-dashboard, a report) before it fails


def sqlite_storage(db: Path):
    """The study's Optuna storage: SQLite whose writes wait up to SQLITE_TIMEOUT_S for a reader's lock
    (SQLite's default is 5 s, and a busy optuna-dashboard beside a study then meets "database is locked")."""
    import optuna

    Path(db).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(f"sqlite:///{db}",
                                      engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}})


def close_running(db: Path, name: str) -> int:
    """After a study's Tune run: trials its Optuna study still holds RUNNING (suggested for a trial that a
    killed driver's snapshot never knew, so no resume finishes them) are marked FAIL. Returns how many."""
    import optuna

    if not Path(db).exists():
        return 0
    storage = sqlite_storage(db)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # no study of that name in this file
        return 0
    running = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
    for t in running:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    return len(running)


def distribution(dim):
    import optuna

    if isinstance(dim, LogUniform):
        return optuna.distributions.FloatDistribution(dim.low, dim.high, log=True)
    if isinstance(dim, Choice):
        return optuna.distributions.CategoricalDistribution(list(dim.values))
    return None


class OptunaRecord(tune.Callback):
    def __init__(self, db: Path, name: str, space: dict[str, Any], metric: str, mode: str, skip_references: bool = False):
        self.db, self.name, self.metric, self.mode = db, name, metric, mode
        self.skip_references = skip_references
        self.space = {k: d for k, d in space.items() if distribution(d) is not None}
        self._reports: dict[str, dict[int, float]] = {}
        self._opened = None  # the Optuna study, opened once a driver (not once a trial: see benchmarks/optuna_record.py)
        self._recorded: set[str] = set()  # Tune trial ids already in optuna.db

    def __getstate__(self):  # Tune pickles its callbacks (tuner.pkl): not the open storage
        return {**self.__dict__, "_opened": None, "_recorded": set()}

    def _study(self):
        import optuna

        if self._opened is None:
            optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per trial in the study's output
            self._opened = optuna.create_study(storage=sqlite_storage(self.db), study_name=self.name, load_if_exists=True,
                                               direction="maximize" if self.mode == "max" else "minimize")
            # Trials an earlier driver of this study recorded (its kill may have kept Tune's snapshot from
            # seeing them finish, so this driver finishes them again): recorded once.
            self._recorded = {t.user_attrs.get("tune_trial_id") for t in self._opened.get_trials(deepcopy=False)}
        return self._opened

    def setup(self, **info):
        self._study().set_user_attr("metric", self.metric)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        value, step = result.get(self.metric), result.get("step")
        if isinstance(value, (int, float)) and math.isfinite(value) and step is not None:
            self._reports.setdefault(trial.trial_id, {})[int(step)] = float(value)

    def _record(self, trial, errored: bool):
        import optuna

        reports = self._reports.pop(trial.trial_id, {})
        if self.skip_references and reference_method(trial.config):
            return
        params = {k: trial.config[k] for k in self.space if k in trial.config}
        if not all(contains(self.space[k], v) for k, v in params.items()):
            return
        dists = {k: distribution(self.space[k]) for k in params}
        best = (max if self.mode == "max" else min)(reports.values()) if reports else None
        state = (optuna.trial.TrialState.FAIL if errored else
                 optuna.trial.TrialState.COMPLETE if best is not None else optuna.trial.TrialState.PRUNED)
        study = self._study()
        if trial.trial_id in self._recorded:
            return  # recorded before a driver kill that its snapshot did not see: once is enough
        frozen = optuna.trial.create_trial(
            params=params, distributions=dists, value=best if state == optuna.trial.TrialState.COMPLETE else None,
            intermediate_values=reports, state=state, user_attrs={"tune_trial_id": trial.trial_id})
        study.add_trial(frozen)
        self._recorded.add(trial.trial_id)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._record(trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._record(trial, errored=True)
