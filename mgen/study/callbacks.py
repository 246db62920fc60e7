"""The Tune stopper of a study (its W&B callback is in wandb_log.py)."""
from __future__ import annotations

import logging
from collections import defaultdict

from ray import tune

from mgen.train.params import unset

log = logging.getLogger(__name__)


class CollapseStopper(tune.Stopper):
    """Stop a trial once it has reported `collapsed` for `patience` consecutive evaluations."""

    def __init__(self, patience: int = 3):
        self.patience = patience
        self.streak: dict[str, int] = defaultdict(int)

    def __call__(self, trial_id: str, result: dict) -> bool:
        if result.get("collapsed", 0.0) >= 1.0:
            self.streak[trial_id] += 1
        else:
            self.streak[trial_id] = 0
        return self.streak[trial_id] >= self.patience

    def stop_all(self) -> bool:
        return False


class ProgressLines(tune.Callback):
    """The study's quiet terminal output (Tune's own tables come back with --verbose): one line when a
    trial ends (its params, last step, metric and health) and a status line at most every `every`
    seconds while trials run."""

    def __init__(self, metric: str, keys: list[str], every: float = 30.0):
        self.metric, self.keys, self.every = metric, list(keys), every
        self._last = 0.0

    def _line(self, trial, verdict: str) -> str:
        from mgen.metrics.registry import health_status

        result = trial.last_result or {}
        params = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in trial.config.items() if k in self.keys and not unset(v))
        value = result.get(self.metric)
        shown = f"{self.metric}={value:.4f}" if isinstance(value, (int, float)) else f"{self.metric}=n/a"
        status = health_status(result) if result else "no report"
        return f"{verdict} {trial.trial_id} {params}: step {int(result.get('step', 0))}, {shown} [{status}]"

    def on_trial_complete(self, iteration, trials, trial, **info):
        print(self._line(trial, "done   "), flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        print(self._line(trial, "ERROR  "), flush=True)

    def on_step_end(self, iteration, trials, **info):
        import time

        now = time.time()
        if now - self._last < self.every:
            return
        self._last = now
        counts = defaultdict(int)
        for t in trials:
            counts[t.status] += 1
        print("trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())), flush=True)
