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

Every run is logged from one actor on the driver's node (WandbHub), not Ray's two actors a trial.
The W&B key reaches it as a constructor argument held in Ray's memory, not through a runtime env, which
Ray's runtime_env agent writes into its log file.
"""
from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import urllib.error
from pathlib import Path

import numpy as np
from ray.air.integrations.wandb import WandbLoggerCallback, _QueueItem

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


class WandbHub:
    """One process for every trial's W&B run, a thread and a queue a run.

    Ray's callback starts two actors a trial (a queue and a logger, each a new worker process that imports
    W&B and starts its own wandb-core): about 5 s of the cores a trial. 500 tiny trials with W&B took
    1,765 s that way and 446 s this way (benchmarks/scale.py). wandb >= 0.19.10 holds several runs in one process
    (`reinit="create_new"`), all served by one wandb-core. Calls from the driver run in order, so a trial's
    results reach its queue in order; each thread logs its run at its own pace.
    """

    def __init__(self, api_key: str | None = None):
        if api_key:
            os.environ["WANDB_API_KEY"] = api_key
        os.environ["WANDB_START_METHOD"] = "thread"
        import wandb

        self._wandb = wandb
        self._queues: dict[str, queue.Queue] = {}
        self._threads: dict[str, threading.Thread] = {}

    def start(self, trial_id: str, init_kwargs: dict) -> None:
        for done in [t for t, thread in self._threads.items() if not thread.is_alive()]:
            del self._threads[done], self._queues[done]
        if trial_id in self._threads:  # the trial's earlier run is still finishing
            self._threads[trial_id].join()
        self._queues[trial_id] = queue.Queue()
        self._threads[trial_id] = threading.Thread(target=self._log, args=(self._queues[trial_id], init_kwargs),
                                                   name=f"wandb-{trial_id}", daemon=True)
        self._threads[trial_id].start()

    def put(self, trial_id: str, item: tuple) -> None:
        self._queues[trial_id].put(item)

    def finish(self, timeout: float) -> int:
        """Wait up to `timeout` s in all for the runs to finish (their uploads, online); how many did not."""
        deadline = time.monotonic() + timeout
        for thread in self._threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in self._threads.values())

    def _log(self, items: queue.Queue, init_kwargs: dict) -> None:
        try:
            run = self._wandb.init(**init_kwargs)
        except Exception as exc:  # noqa: BLE001 - one trial's run lost, not the study's W&B
            log.warning("W&B: the run of %s did not start (%s)", init_kwargs.get("name"), exc)
            return
        run.define_metric("step")
        run.define_metric("*", step_metric="step")
        for name, summary in SUMMARIES.items():
            run.define_metric(name, step_metric="step", summary=summary)
        failed = False
        while True:
            kind, content = items.get()
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

    def __init__(self, *args, name_keys: list[str] = (), metric: str = "healthy_coverage", mode_of_metric: str = "max",
                 is_control=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.name_keys, self.metric, self.metric_mode = list(name_keys), metric, mode_of_metric
        self.is_control = is_control or (lambda config: False)
        self._seen_real: set = set()
        self._best_seen: dict[str, tuple[float, str]] = {}  # trial id -> (best metric value, its checkpoint)
        self._fetched = Path(tempfile.mkdtemp(prefix="mgen-wandb-"))
        self._hub = None  # the actor that holds every trial's run (WandbHub), started with the first trial
        self._started: set[str] = set()  # trials whose run the hub holds

    def _start_logging_actor(self, trial, exclude_results, **wandb_init_kwargs):
        if trial.trial_id in self._started:  # a trial retried after a failure keeps its run
            return
        import ray
        from ray.air.integrations.wandb import _force_on_current_node

        config = dict(trial.config)
        wandb_init_kwargs.update(
            name=run_name(config, self.name_keys), tags=run_tags(config, self.is_control(config)), job_type="trial",
            config=trial_wandb_config(config), reinit="create_new",
            settings={**WANDB_QUIET, **wandb_init_kwargs.get("settings", {})})
        wandb_init_kwargs.setdefault("dir", trial.local_path)  # Ray's logger ran in the trial's folder
        if self._hub is None:
            # Ray's version passes WANDB_API_KEY (set by `wandb login` too) in a runtime env, which Ray's
            # runtime_env agent logs in full. Here the key is a constructor argument instead.
            self._hub = ray.remote(num_cpus=0, **_force_on_current_node())(WandbHub).remote(
                api_key=os.environ.get("WANDB_API_KEY"))
        self._hub.start.remote(trial.trial_id, wandb_init_kwargs)
        self._started.add(trial.trial_id)

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
        if trial.trial_id not in self._started:
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
        self._hub.put.remote(trial.trial_id, (_QueueItem.RESULT, (history, constants)))

    def log_trial_end(self, trial, failed: bool = False):
        from mgen.study.trainable import CHECKPOINT_FILE, SAMPLES_DIR

        if trial.trial_id not in self._started:
            return
        checkpoint = trial.checkpoint
        if checkpoint is not None:
            folder = checkpoint.path.rstrip("/").rsplit("/", 1)[-1]
            samples = self._local(trial, f"{folder}/{SAMPLES_DIR}")  # music trials that ran to the end
            self._local(trial, f"{folder}/samples.png")
            final = {"samples": str(samples) if samples else None, "step": int((trial.last_result or {}).get("step", 0)),
                     "renderer": (trial.last_result or {}).get("audio_renderer"), **self._best(trial, CHECKPOINT_FILE)}
            self._hub.put.remote(trial.trial_id, (_QueueItem.CHECKPOINT, final))
        self._hub.put.remote(trial.trial_id, (_QueueItem.END, {"failed": failed}))  # Ray's sends no word of failure
        self._started.discard(trial.trial_id)

    def _best(self, trial, checkpoint_file: str) -> dict:
        """The trial's best checkpoint by the study metric (tracked from its results), as a local file."""
        best = self._best_seen.get(trial.trial_id)
        if best is None:
            return {}
        local = self._local(trial, f"{best[1]}/{checkpoint_file}")
        return {"best": str(local), "best_checkpoint": best[1]} if local else {}

    def on_experiment_end(self, trials, **info):
        """Wait for the runs to finish (uploads included, online), up to Ray's upload timeout."""
        import ray

        if self._hub is not None:
            try:
                left = ray.get(self._hub.finish.remote(self._upload_timeout))
            except ray.exceptions.RayError as exc:
                log.warning("W&B: the logging actor was lost (%s); unfinished runs are marked at the next start", exc)
            else:
                if left:
                    log.warning("W&B: %d run(s) had not finished after %d s", left, self._upload_timeout)
            ray.kill(self._hub)
            self._hub = None
        shutil.rmtree(self._fetched, ignore_errors=True)
