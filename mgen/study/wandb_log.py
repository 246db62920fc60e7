"""W&B for a study, as a W&B user expects it.

One run per trial, named and tagged from its config, in the study's group, job type `trial`:
- config: the trial's full TrialConfig, the study-level words (`dg_ratio`, `conditioning`, `variant`)
  and numeric axes for parallel coordinates (`log2_dg_ratio`, `log10_lr_ratio`); none of Ray's
  bookkeeping (paths, pids, hosts, dates). The real data's constant `*_real` values go into the
  config once, under `real/`, instead of being logged at every report.
- history: the training iteration `step` is the x axis of every chart (`define_metric`); metrics are
  grouped by prefix (train/, quality/, collapse/, modes/, music/); each metric's summary follows its
  direction in mgen.metrics.registry (max, min, else last); pictures from each report's checkpoint
  (`samples/generated`, and `samples/real` once).
- at the end: the final samples as `wandb.Audio`, a `samples` table (piano roll, audio, MIDI), the
  samples folder as an artifact, and the trial's best checkpoint by the study metric as a `model`
  artifact (a reference to the file, not a copy) with the alias `best`.
A study-level run (job type `study`) holds the trials table and the study's counts.

The W&B key reaches the logging actors as a constructor argument held in Ray's memory, not through a
runtime env, which Ray's runtime_env agent writes into its log file.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.error
from pathlib import Path

import numpy as np
from ray.air.integrations.wandb import (
    WandbLoggerCallback,
    _QueueItem,
    _WandbLoggingActor,
)

from mgen.metrics.registry import METRICS, WANDB_QUIET, wandb_name
from mgen.study.plan import reference_method
from mgen.train.params import expand, unset

log = logging.getLogger(__name__)
# Each metric's W&B summary follows its direction in the registry (max or min; others keep the last value).
SUMMARIES = {wandb_name(k): m.direction for k, m in METRICS.items() if wandb_name(k) and m.direction in ("max", "min")}


def split_result(result: dict) -> tuple[dict, dict]:
    """(history values by W&B name, constants for the config) of one Tune result: scalars only."""
    history, constants = {}, {}
    for key, value in result.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(value, np.ndarray):
            continue
        if key.endswith("_real") and key[:-5] in METRICS:
            constants[f"real/{key[:-5]}"] = float(value)
            continue
        name = wandb_name(key)
        if name is not None:
            history[name] = float(value)
    return history, constants


def trial_wandb_config(config: dict) -> dict:
    """The trial's config for W&B: the full TrialConfig, the study-level words and numeric axes."""
    from mgen.train.config import TrialConfig

    cfg = TrialConfig.from_params(config)
    out = {**cfg.to_dict(), **{k: v for k, v in config.items() if k in ("dg_ratio", "conditioning", "variant")}}
    out["log2_dg_ratio"], out["log10_lr_ratio"] = cfg.log2_dg_ratio, cfg.log10_lr_ratio
    return out


def run_name(config: dict, keys: list[str]) -> str:
    """The searched params of a trial, short: "dg_ratio=1:5 lr_d=0.0005 d_norm=spectral seed=0"."""
    parts = []
    for key in keys:
        if key in config and not unset(config[key]):  # a reference row leaves the params it does not use unset
            value = config[key]
            parts.append(f"{key}={value:.2g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts) or "trial"


def run_tags(config: dict, control: bool) -> list[str]:
    flat = expand(config)
    method = flat.get("method", "gan")
    tags = [method, str(flat.get("data", "")).split(":")[0]]
    if method == "gan":
        tags += [f"dg={flat.get('d_steps', 1)}:{flat.get('g_steps', 1)}", f"d_norm={flat.get('d_norm', 'none')}"]
    cond = flat.get("cond", "none")
    tags.append("cond=none" if cond == "none" else f"cond={cond}/{flat.get('inject', '1d')}")
    return tags + (["control"] if control else []) + (["reference"] if reference_method(config) else [])


class TrialLoggingActor(_WandbLoggingActor):
    """Ray's W&B logging actor with the key as an argument, the step axis and summaries declared, and
    the end-of-trial samples and model logged."""

    def __init__(self, *args, api_key: str | None = None, **kwargs):
        if api_key:
            os.environ["WANDB_API_KEY"] = api_key
        super().__init__(*args, **kwargs)

    def run(self):
        os.environ["WANDB_START_METHOD"] = "thread"
        run = self._wandb.init(*self.args, **self.kwargs)
        run.define_metric("step")
        run.define_metric("*", step_metric="step")
        for name, summary in SUMMARIES.items():
            run.define_metric(name, step_metric="step", summary=summary)
        failed = False
        while True:
            kind, content = self.queue.get()
            if kind == _QueueItem.END:
                failed = bool(content and content.get("failed"))
                break
            if kind == _QueueItem.CHECKPOINT:
                self._log_final(run, content)
                continue
            history, config = content
            try:
                if config:
                    run.config.update(config, allow_val_change=True)
                run.log(history)
            except (urllib.error.HTTPError, FileNotFoundError) as exc:  # a lost point, not a lost trial
                log.warning("W&B: a result was not logged (%s)", exc)
        run.finish(exit_code=1 if failed else None)  # an errored trial's run syncs as failed, not finished

    def _log_final(self, run, final: dict) -> None:
        wandb = self._wandb
        if final.get("samples"):
            samples = Path(final["samples"])
            wav, mid, png = samples / "samples.wav", samples / "samples.mid", samples.parent / "samples.png"
            if wav.exists():
                table = wandb.Table(columns=["step", "piano_roll", "audio", "midi", "renderer"])
                table.add_data(final["step"], wandb.Image(str(png)) if png.exists() else None,
                               wandb.Audio(str(wav)), mid.name, final.get("renderer"))
                run.log({"samples/audio": wandb.Audio(str(wav), caption=f"final samples ({final.get('renderer')})"),
                         "samples/table": table, "step": final["step"]})
            artifact = wandb.Artifact(f"samples-{run.id}", type="samples",
                                      metadata={"step": final["step"], "renderer": final.get("renderer")})
            artifact.add_dir(str(samples))
            run.log_artifact(artifact)
        if final.get("best"):
            model = wandb.Artifact(f"model-{run.id}", type="model", metadata={"checkpoint": final["best_checkpoint"]})
            model.add_reference(f"file://{final['best']}", name="checkpoint.pt")
            run.log_artifact(model, aliases=["best", final["best_checkpoint"]])


class StudyWandbCallback(WandbLoggerCallback):
    """Ray Tune's W&B logger, shaped as the module docstring says."""

    AUTO_CONFIG_KEYS: list[str] = []
    _logger_actor_cls = TrialLoggingActor

    def __init__(self, *args, name_keys: list[str] = (), metric: str = "healthy_coverage", mode_of_metric: str = "max",
                 is_control=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.name_keys, self.metric, self.metric_mode = list(name_keys), metric, mode_of_metric
        self.is_control = is_control or (lambda config: False)
        self._seen_real: set = set()
        self._best_seen: dict[str, tuple[float, str]] = {}  # trial id -> (best metric value, its checkpoint)
        self._fetched = Path(tempfile.mkdtemp(prefix="mgen-wandb-"))

    def _start_logging_actor(self, trial, exclude_results, **wandb_init_kwargs):
        config = dict(trial.config)
        wandb_init_kwargs.update(
            name=run_name(config, self.name_keys), tags=run_tags(config, self.is_control(config)), job_type="trial",
            config=trial_wandb_config(config), settings={**WANDB_QUIET, **wandb_init_kwargs.get("settings", {})})
        if not self._remote_logger_class:
            # Ray's version passes WANDB_API_KEY (set by `wandb login` too) in a runtime env, which Ray's
            # runtime_env agent logs in full, and restarts the actor for ever, which Ray warns about for
            # actors with arguments in its store. Here the key is a constructor argument instead.
            import ray
            from ray.air.integrations.wandb import _force_on_current_node

            self._remote_logger_class = ray.remote(num_cpus=0, **_force_on_current_node())(self._logger_actor_cls)
        super()._start_logging_actor(trial, exclude_results, api_key=os.environ.get("WANDB_API_KEY"), **wandb_init_kwargs)

    def _local(self, trial, relative: str) -> Path | None:
        """A file of the trial's storage as a local path (copied here when the storage is remote)."""
        import pyarrow.fs as pafs

        fs, path = trial.storage.storage_filesystem, f"{trial.storage.trial_fs_path}/{relative}"
        if isinstance(fs, pafs.LocalFileSystem):
            return Path(path) if Path(path).exists() else None
        target = self._fetched / trial.trial_id / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if fs.get_file_info(path).type == pafs.FileType.Directory:
                pafs.copy_files(path, str(target), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
            else:
                with fs.open_input_stream(path) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        except OSError:
            return None
        return target if target.exists() else None

    def log_trial_result(self, iteration: int, trial, result: dict):
        if trial not in self._trial_logging_actors:
            self.log_trial_start(trial)
        import wandb

        from mgen.study.trainable import PICTURE, REAL_PICTURE

        history, constants = split_result(result)
        folder = result.get("checkpoint_dir_name")
        value = result.get(self.metric)
        if folder and isinstance(value, (int, float)) and value == value:
            best = self._best_seen.get(trial.trial_id)
            if best is None or (value > best[0] if self.metric_mode == "max" else value < best[0]):
                self._best_seen[trial.trial_id] = (value, folder)
        if folder:
            for name, file in (("samples/generated", PICTURE), ("samples/real", REAL_PICTURE)):
                if name == "samples/real" and trial.trial_id in self._seen_real:
                    continue
                path = self._local(trial, f"{folder}/{file}")  # a path, not pixels: the queue carries little
                if path is not None:
                    history[name] = wandb.Image(str(path))
                    if name == "samples/real":
                        self._seen_real.add(trial.trial_id)
        # Without waiting: Queue.put blocks until a new trial's queue actor is up (0.7-1.7 s measured, with
        # Tune's loop stalled). One caller's calls to one actor run in order, so results stay in order.
        self._trial_queues[trial].actor.put_nowait.remote((_QueueItem.RESULT, (history, constants)))

    def log_trial_end(self, trial, failed: bool = False):
        from mgen.study.trainable import CHECKPOINT_FILE, SAMPLES_DIR

        checkpoint = trial.checkpoint
        if checkpoint is not None and trial in self._trial_queues:
            folder = checkpoint.path.rstrip("/").rsplit("/", 1)[-1]
            samples = self._local(trial, f"{folder}/{SAMPLES_DIR}")  # music trials that ran to the end
            self._local(trial, f"{folder}/samples.png")
            final = {"samples": str(samples) if samples else None, "step": int((trial.last_result or {}).get("step", 0)),
                     "renderer": (trial.last_result or {}).get("audio_renderer"), **self._best(trial, CHECKPOINT_FILE)}
            self._trial_queues[trial].put((_QueueItem.CHECKPOINT, final))
        self._trial_queues[trial].put((_QueueItem.END, {"failed": failed}))  # Ray's sends no word of failure
        self._cleanup_logging_actors()

    def _best(self, trial, checkpoint_file: str) -> dict:
        """The trial's best checkpoint by the study metric (tracked from its results), as a local file."""
        best = self._best_seen.get(trial.trial_id)
        if best is None:
            return {}
        local = self._local(trial, f"{best[1]}/{checkpoint_file}")
        return {"best": str(local), "best_checkpoint": best[1]} if local else {}

    def on_experiment_end(self, trials, **info):
        super().on_experiment_end(trials, **info)
        shutil.rmtree(self._fetched, ignore_errors=True)
