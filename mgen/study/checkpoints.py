"""Bounded checkpoints that still resume exactly (--keep-checkpoints N).

Tune keeps every checkpoint here (CheckpointConfig(num_to_keep=None)): its own pruning by score once
deleted the checkpoint that the experiment snapshot on disk still named, and a resumed trial then
failed for good. This callback prunes instead, and only what no snapshot can name:

- A trial's last N checkpoints (N = --keep-checkpoints, default 1) and its best by the study metric are
  always kept.
- Tune saves its experiment snapshot (experiment_state-*.json) and then asks every callback for its
  state: `get_state` runs right after each snapshot is written, when the trials' latest checkpoints are
  what that snapshot names. Those of the last two snapshots are kept (the older covers a snapshot still
  being copied to remote storage), and anything else registered before them is deleted.
- When the study ends (after Tune's final snapshot) only that snapshot's checkpoints are kept besides
  the last N and the best.
- A resumed study's trials come back with the checkpoints their snapshot listed; those still on disk are
  adopted at the first snapshot and pruned by the same rule.

A checkpoint folder is renamed `<name>.pruned` before it is deleted, so a driver killed while pruning
leaves a folder that no snapshot names and that the next prune of that study removes.
"""
from __future__ import annotations

import logging
import math
import shutil
from collections import defaultdict
from pathlib import Path

from ray import tune

log = logging.getLogger(__name__)
PRUNED = ".pruned"


class CheckpointPruner(tune.Callback):
    def __init__(self, metric: str, mode: str, keep_last: int = 1):
        self.metric, self.mode, self.keep_last = metric, mode, max(1, keep_last)
        self.registered: dict[str, list[tuple[object, float]]] = defaultdict(list)  # trial id -> (checkpoint, score)
        self.named: list[set[str]] = [set(), set()]  # the checkpoints the last two snapshots name
        self.trials: list = []
        self.adopted: set[str] = set()

    def on_step_begin(self, iteration, trials, **info):
        self.trials = trials

    def adopt(self) -> None:
        """The checkpoints of trials this driver restored (--resume, a retry's restore) that it did not see
        registered: from the trial's own checkpoint list, those still there."""
        for trial in self.trials:
            if trial.trial_id in self.adopted:
                continue
            self.adopted.add(trial.trial_id)
            manager = getattr(trial.run_metadata, "checkpoint_manager", None)
            known = {c.path for c, _ in self.registered[trial.trial_id]}
            earlier = []
            for result in getattr(manager, "best_checkpoint_results", None) or []:
                path = result.checkpoint.path
                if path in known or (local(result.checkpoint) and not Path(path).exists()):
                    continue
                earlier.append((result.checkpoint, score(result.metrics, self.metric)))
            self.registered[trial.trial_id][:0] = earlier

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self.registered[trial.trial_id].append((checkpoint, score(trial.last_result, self.metric)))

    def get_state(self):
        self.adopt()
        latest = {entries[-1][0].path for entries in self.registered.values() if entries}
        self.named = [self.named[1], latest]
        self.prune(self.named[0] | self.named[1])
        return None  # nothing to restore: a resumed study's older checkpoints are left as they are

    def on_experiment_end(self, trials, **info):
        self.prune({entries[-1][0].path for entries in self.registered.values() if entries})

    def keep(self, entries: list[tuple[object, float]]) -> set[str]:
        paths = {c.path for c, _ in entries[-self.keep_last:]}
        scored = [(c, s) for c, s in entries if not math.isnan(s)]
        if scored:  # the first at the best score, as Tune's Result.get_best_checkpoint picks it (max/min: first)
            paths.add((max if self.mode == "max" else min)(scored, key=lambda e: e[1])[0].path)
        return paths

    def prune(self, named: set[str]) -> None:
        for trial_id, entries in self.registered.items():
            keep = self.keep(entries) | named
            for checkpoint, _ in entries:
                if checkpoint.path not in keep:
                    remove(checkpoint)
            self.registered[trial_id] = [(c, s) for c, s in entries if c.path in keep]


def score(metrics: dict | None, metric: str) -> float:
    """The study metric of a checkpoint's report; NaN when it has none."""
    value = (metrics or {}).get(metric)
    return float(value) if value is not None else float("nan")


def local(checkpoint) -> bool:
    return checkpoint.filesystem is None or type(checkpoint.filesystem).__name__ == "LocalFileSystem"


def remove(checkpoint) -> None:
    """Rename, then delete: a half-deleted folder never keeps a checkpoint's own name."""
    fs, path = checkpoint.filesystem, checkpoint.path
    try:
        if local(checkpoint):
            target = Path(path).with_name(Path(path).name + PRUNED)
            Path(path).rename(target)
            shutil.rmtree(target, ignore_errors=True)
        else:  # remote storage (s3://...): no cheap rename; delete in place
            fs.delete_dir(path)
    except (FileNotFoundError, OSError) as exc:
        log.warning("could not delete checkpoint %s: %s", path, exc)


def leftovers(study_dir: Path) -> int:
    """Remove the `.pruned` folders a driver killed while pruning left behind (local storage)."""
    found = list(study_dir.glob(f"*/*{PRUNED}"))
    for folder in found:
        shutil.rmtree(folder, ignore_errors=True)
    return len(found)


def disk_per_trial(study_dir: Path) -> dict[str, int]:
    """Bytes under each trial folder of a local study."""
    out = {}
    for trial in sorted(p for p in study_dir.iterdir() if p.is_dir() and (p / "params.json").exists()):
        out[trial.name] = sum(f.stat().st_size for f in trial.rglob("*") if f.is_file())
    return out
