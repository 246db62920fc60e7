"""The Ray Tune function trainable: one trial config through mgen.train, reporting every eval interval.

Tune's results hold scalars only. Pictures and samples go into each report's checkpoint folder, where
the W&B callback (and a person) finds them:
- `samples.png`: a piano roll with axes (8 generated bars) or a scatter of 2D samples; `real.png` beside
  the first report's, the same picture of held-out real data for reference;
- `samples.npz`: the generated examples behind the picture;
- `config.yaml`: the trial's full TrialConfig, which `mgen train --config` takes as it is;
- in the final checkpoint, `samples/samples.mid` and `samples/samples.wav`.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from ray import tune

from mgen.data import load_dataset
from mgen.export import save_piano_roll, save_points, write_midi, write_wav
from mgen.train import TrialConfig, load_checkpoint, save_checkpoint, train

CHECKPOINT_FILE = "checkpoint.pt"
CONFIG_FILE = "config.yaml"
PICTURE, REAL_PICTURE, SAMPLES_FILE = "samples.png", "real.png", "samples.npz"
SAMPLES_DIR = "samples"  # inside the final checkpoint: samples.mid (and samples.wav) for W&B
BARS_SHOWN = 8


def trial_config(config: dict) -> TrialConfig:
    """Tune's config dict (study-level params included) -> TrialConfig."""
    return TrialConfig.from_params(config)


def save_pictures(folder: Path, samples: np.ndarray, dataset, step: int, first: bool) -> None:
    """samples.png and samples.npz of a report (and real.png with the first): see the module docstring."""
    np.savez_compressed(folder / SAMPLES_FILE, samples=samples)
    if dataset.is_points:
        save_points(samples, folder / PICTURE, f"generated, step {step}", modes=dataset.modes)
        if first:
            save_points(dataset.x[:512], folder / REAL_PICTURE, "real data", modes=dataset.modes)
        return
    save_piano_roll(samples[:BARS_SHOWN], folder / PICTURE, title=f"generated bars, step {step}")
    if first:
        _, heldout = dataset.split()
        save_piano_roll(heldout.x[:BARS_SHOWN], folder / REAL_PICTURE, title="held-out real bars")


def trainable(config: dict, datasets: dict, broker=None) -> None:
    """Run one trial; resume from Tune's checkpoint when the trial is restored or retried.

    datasets: {DataConfig: BarDataset}, built once by the driver and shared through the object store.
    broker: with --population, the study's population broker (mgen/study/population.py): a trial that
    can join a population trains in one, unless it resumes from a checkpoint.
    """
    import ray

    from mgen.train.population import population_key

    cfg = trial_config(config)
    dataset = datasets.get(cfg.data_config()) or load_dataset(cfg.data_config())
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            resume = load_checkpoint(Path(d) / CHECKPOINT_FILE, cfg)
    node_id = ray.get_runtime_context().get_node_id()  # which node ran each report (retries may move a trial)
    first = resume is None
    if broker is not None and resume is None and population_key(cfg) is not None:
        from mgen.study.population import member_reports

        reports = member_reports(broker, cfg)
    else:
        reports = train(cfg, dataset, resume=resume)
    for report in reports:
        metrics = {**report.metrics, "node_id": report.extra.get("node_id", node_id),  # where it trained
                   "population_size": report.extra.get("population_size", 1)}  # trials trained with it as one model
        if report.checkpoint is None:  # diverged: recorded, no checkpoint of the broken state
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d)
            save_checkpoint(report.checkpoint, folder / CHECKPOINT_FILE)
            (folder / CONFIG_FILE).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            if report.samples is not None:
                save_pictures(folder, report.samples, dataset, report.step, first)
                first = False
            if report.done and report.samples is not None and not dataset.is_points:
                write_midi(report.samples, folder / SAMPLES_DIR / "samples.mid")
                metrics["audio_renderer"] = write_wav(report.samples[:BARS_SHOWN], folder / SAMPLES_DIR / "samples.wav")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
