"""VAE and IMLE capture the known modes of the 2D mixtures and the planted motifs (slow: real training)."""
import pytest

from mgen.data import load_dataset
from mgen.study.space import expand
from mgen.train import TrialConfig, train
from mgen.train.config import CALIBRATION_PROTOCOL

PROTOCOL = {**CALIBRATION_PROTOCOL, "steps": 2000, "eval_every": 2000}  # studies/calibration.py's, shorter


def last_metrics(values: dict) -> dict:
    cfg = TrialConfig.from_dict(expand(values))
    return list(train(cfg, load_dataset(cfg.data_config())))[-1].metrics


@pytest.mark.slow
@pytest.mark.parametrize("data,least", [("ring", 7), ("grid", 20)])
@pytest.mark.parametrize("variant", ["vae", "imle/lr_g=1e-3"])
def test_baselines_capture_the_mixture_modes(data, least, variant):
    m = last_metrics({**PROTOCOL, "data": data, "variant": variant})
    assert m["modes_captured"] >= least and m["high_quality"] > 0.1, m


@pytest.mark.slow
def test_imle_finds_the_planted_motifs():
    m = last_metrics({"variant": "imle/lr_g=1e-3", "data": "motifs", "g_width": 32, "d_width": 32, "z_dim": 32,
                      "batch_size": 32, "steps": 1000, "eval_every": 1000, "eval_samples": 256})
    assert m["modes_captured"] >= 7 and m["collapsed"] == 0 and m["failed"] == 0, m
