"""Tune stopper and W&B callback of a study."""
from __future__ import annotations

import logging
import os
from collections import defaultdict

import numpy as np

from ray import tune
from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

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


class _KeyedLoggingActor(_WandbLoggingActor):
    """Ray's W&B logging actor, given the API key as a constructor argument (held in memory by Ray)
    instead of a runtime-env variable, which Ray's runtime_env agent writes into its log file."""

    def __init__(self, *args, api_key: str | None = None, **kwargs):
        if api_key:
            os.environ["WANDB_API_KEY"] = api_key
        super().__init__(*args, **kwargs)


class StudyWandbCallback(WandbLoggerCallback):
    """Ray Tune's W&B logger, plus: piano rolls as images, and its final samples (.mid, .wav) as an artifact.

    Only the final checkpoint's `samples/` folder is uploaded (upload_checkpoints would upload every
    model checkpoint). This uses the parent's per-trial queue; on a Ray without it, the upload is
    skipped with a warning and the metrics are still logged.
    """

    _logger_actor_cls = _KeyedLoggingActor

    def _start_logging_actor(self, trial, exclude_results, **wandb_init_kwargs):
        # Ray puts WANDB_API_KEY (set by `wandb login` too) into the actor's runtime env, and its
        # runtime_env agent logs runtime envs in full: keep it out of the environment for this call.
        key = os.environ.pop("WANDB_API_KEY", None)
        try:
            super()._start_logging_actor(trial, exclude_results, **({"api_key": key} if key else {}),
                                         **wandb_init_kwargs)
        finally:
            if key is not None:
                os.environ["WANDB_API_KEY"] = key

    def log_trial_result(self, iteration: int, trial, result: dict):
        # Trials report their piano roll channels first (TensorBoard's layout); W&B wants HWC.
        image = result.get("samples")
        if isinstance(image, np.ndarray) and image.ndim == 3:
            import wandb

            result = {**result, "samples": wandb.Image(np.moveaxis(image, 0, -1), caption="generated bars")}
        super().log_trial_result(iteration, trial, result)

    def log_trial_end(self, trial, failed: bool = False):
        checkpoint = trial.checkpoint
        queues = getattr(self, "_trial_queues", None)
        if checkpoint is not None and queues is not None and trial in queues:
            import pyarrow.fs
            from ray.air.integrations.wandb import _QueueItem

            from mgen.study.trainable import SAMPLES_DIR

            if isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem):
                samples = f"{checkpoint.path}/{SAMPLES_DIR}"
                info = checkpoint.filesystem.get_file_info(samples)
                if info.type == pyarrow.fs.FileType.Directory:
                    queues[trial].put((_QueueItem.CHECKPOINT, samples))
        elif checkpoint is not None:
            log.warning("W&B: final samples not uploaded for %s (this Ray has no per-trial queue)", trial)
        super().log_trial_end(trial, failed)
