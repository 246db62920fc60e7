"""The held-out split: by piece, deterministic, about the asked share, and what trials train on."""
import numpy as np
import torch

from mgen.data import DataConfig, load_dataset
from mgen.data.split import heldout_mask, split_parts
from mgen.train.trial import TrialData


def test_split_keeps_pieces_whole_is_deterministic_and_near_its_share():
    pieces = np.repeat(np.arange(500), 8)
    held = heldout_mask(pieces)
    assert (held == heldout_mask(pieces)).all()
    for p in range(500):  # every bar of a piece on one side
        assert held[pieces == p].all() or not held[pieces == p].any()
    assert 0.15 < held.mean() < 0.25
    # A piece's side does not depend on the other pieces.
    assert (heldout_mask(pieces[: 8 * 250]) == held[: 8 * 250]).all()
    parts = split_parts(pieces, (0.4, 0.3, 0.3))
    assert sum(len(p) for p in parts) == len(pieces) and not set(parts[0]) & set(parts[1])


def test_trials_train_on_the_training_pieces_and_evaluate_on_the_others():
    ds = load_dataset(DataConfig(name="motifs", n_samples=800))
    data = TrialData(ds, torch.device("cpu"))
    assert len(data) + len(data.heldout) == len(ds) and len(data.heldout) > 0
    assert not set(data.ds.piece) & set(data.heldout.piece)
    points = load_dataset(DataConfig(name="ring", n_samples=1000))
    held = TrialData(points, torch.device("cpu")).heldout
    assert 150 < len(held) < 250 and len(np.unique(held.piece)) == 8  # 2D points: split by example, every mode
