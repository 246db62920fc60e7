"""The Ray Tune function trainable: one trial config through mgen.train, reporting every eval interval."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from ray import tune

from mgen.data import load_dataset
from mgen.export import write_midi, write_wav
from mgen.study.space import expand
from mgen.train import TrialConfig, load_checkpoint, save_checkpoint, train

CHECKPOINT_FILE = "checkpoint.pt"
SAMPLES_DIR = "samples"  # inside the final checkpoint: samples.mid (and samples.wav) for W&B


def piano_roll_image(bars: np.ndarray, bars_shown: int = 8) -> np.ndarray:
    """(3, pitches, steps) uint8 image (channels first, as TensorBoard takes it) of up to 8 bars."""
    x = np.asarray(bars[:bars_shown]) > 0.5
    roll = np.concatenate(list(x), axis=0).T  # (128, steps)
    used = np.nonzero(roll.any(axis=1))[0]
    lo, hi = (max(0, used.min() - 2), min(128, used.max() + 3)) if len(used) else (48, 84)
    img = np.full((hi - lo, roll.shape[1], 3), 255, np.uint8)
    img[roll[lo:hi]] = (20, 20, 20)
    img[:, ::16] = np.where(roll[lo:hi, ::16, None], img[:, ::16], (120, 160, 220)).astype(np.uint8)  # bar lines
    return np.ascontiguousarray(np.moveaxis(img[::-1], -1, 0))


def points_image(points: np.ndarray, size: int = 96) -> np.ndarray:
    """(3, size, size) uint8 scatter of 2D points in [-2.5, 2.5]^2, channels first."""
    img = np.full((size, size, 3), 255, np.uint8)
    ij = np.clip(((np.asarray(points) + 2.5) / 5 * (size - 1)).round().astype(int), 0, size - 1)
    img[size - 1 - ij[:, 1], ij[:, 0]] = (20, 20, 20)
    return np.ascontiguousarray(np.moveaxis(img, -1, 0))


def trial_config(config: dict) -> TrialConfig:
    """Tune's config dict (study-level params included) -> TrialConfig."""
    return TrialConfig.from_dict(expand(config))


def trainable(config: dict, datasets: dict) -> None:
    """Run one trial; resume from Tune's checkpoint when the trial is restored or retried.

    datasets: {DataConfig: BarDataset}, built once by the driver and shared through the object store.
    """
    cfg = trial_config(config)
    dataset = datasets.get(cfg.data_config()) or load_dataset(cfg.data_config())
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            resume = load_checkpoint(Path(d) / CHECKPOINT_FILE, cfg)
    import ray

    node_id = ray.get_runtime_context().get_node_id()  # which node ran each report (retries may move a trial)
    for report in train(cfg, dataset, resume=resume):
        metrics = {**report.metrics, "node_id": node_id}
        if report.samples is not None:
            metrics["samples"] = points_image(report.samples) if dataset.is_points else piano_roll_image(report.samples)
        if report.checkpoint is None:  # diverged: recorded, no checkpoint of the broken state
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as d:
            save_checkpoint(report.checkpoint, Path(d) / CHECKPOINT_FILE)
            if report.done and report.samples is not None and not dataset.is_points:
                write_midi(report.samples, Path(d) / SAMPLES_DIR / "samples.mid")
                metrics["audio_renderer"] = write_wav(report.samples[:8], Path(d) / SAMPLES_DIR / "samples.wav")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
