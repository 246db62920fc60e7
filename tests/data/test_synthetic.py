"""Synthetic sets know their true modes."""
import numpy as np

from mgen.data import DataConfig, load_dataset
from mgen.data.synthetic import MAX_VARIATION_CELLS, MIN_MOTIF_CELLS_APART


def test_ring_has_8_modes_on_the_unit_circle():
    ds = load_dataset("ring")
    assert ds.modes.shape == (8, 2)
    assert np.allclose(np.linalg.norm(ds.modes, axis=1), 1.0)
    d = np.linalg.norm(ds.x[:, None] - ds.modes[None], axis=2)
    assert (d.min(1) < 4 * ds.mode_std).mean() > 0.99
    assert len(np.unique(d.argmin(1))) == 8


def test_grid_has_25_modes_on_a_5x5_lattice():
    ds = load_dataset("grid")
    assert ds.modes.shape == (25, 2)
    assert sorted(set(ds.modes[:, 0].round(6))) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    d = np.linalg.norm(ds.x[:, None] - ds.modes[None], axis=2)
    assert len(np.unique(d.argmin(1))) == 25 and (d.min(1) < 4 * ds.mode_std).mean() > 0.99


def test_motifs_are_planted_and_every_bar_is_near_one():
    ds = load_dataset(DataConfig(name="motifs", k_motifs=5, n_samples=800, vary=0.3))
    assert ds.modes.shape == (5, 16, 128) and len(ds) == 800
    flat, modes = ds.x.reshape(len(ds), -1).astype(float), ds.modes.reshape(5, -1).astype(float)
    d = np.sqrt(((flat[:, None] - modes[None]) ** 2).sum(-1))
    # A varied bar moves one note (at most 9 cells); distinct motifs are at least 20 cells apart.
    assert d.min(1).max() <= np.sqrt(MAX_VARIATION_CELLS)
    between = np.sqrt(((modes[:, None] - modes[None]) ** 2).sum(-1))[np.triu_indices(5, 1)]
    assert between.min() >= np.sqrt(MIN_MOTIF_CELLS_APART)
    assert len(np.unique(d.argmin(1))) == 5
    assert 0.15 < (d.min(1) > 0).mean() < 0.45  # about `vary` of the bars are varied


def test_synthetic_sets_are_reproducible_by_seed():
    a, b = load_dataset(DataConfig(name="motifs", seed=3, n_samples=64)), load_dataset(DataConfig(name="motifs", seed=3, n_samples=64))
    c = load_dataset(DataConfig(name="motifs", seed=4, n_samples=64))
    assert np.array_equal(a.x, b.x) and not np.array_equal(a.modes, c.modes)
