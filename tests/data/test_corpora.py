"""The real bundled corpora load with plausible sizes, the cache hits, and bad input is handled."""
import time

import numpy as np
import pytest

from mgen.data import DataConfig, load_dataset
from mgen.errors import UserError
from tests.conftest import make_midi


@pytest.mark.slow
@pytest.mark.parametrize("name, min_bars, max_bars", [("bach", 3000, 6000), ("celtic", 8000, 20000)])
def test_real_corpus_loads_with_plausible_bar_count(name, min_bars, max_bars):
    ds = load_dataset(name)
    assert min_bars <= len(ds) <= max_bars, ds.summary()
    assert ds.stats["failed_files"] <= ds.stats["files"] // 20
    assert ds.x.shape[1:] == (16, 128) and ds.prev.shape == ds.x.shape and ds.chord.shape == (len(ds), 13)
    # Melodies: at most one pitch a step, every bar has notes, and in C major / A minor the white
    # keys dominate.
    assert ds.x.sum(axis=2).max() == 1
    assert ds.x.any(axis=(1, 2)).all()
    pcs = np.bincount(np.nonzero(ds.x)[2] % 12, minlength=12)
    assert pcs[[0, 2, 4, 5, 7, 9, 11]].sum() > 0.85 * pcs.sum()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fiddle", "essen"])
def test_other_corpora_load(name, tmp_cache):
    ds = load_dataset(DataConfig(name=name, max_files=3 if name == "essen" else 40))
    assert len(ds) > 50, ds.summary()
    assert ds.x.sum(axis=2).max() == 1


def test_second_load_hits_the_cache_in_well_under_a_second(tmp_cache):
    cfg = DataConfig(name="bach", max_files=6)
    first = load_dataset(cfg)
    assert len(list(tmp_cache.glob("*.npz"))) == 1
    start = time.perf_counter()
    second = load_dataset(cfg)
    assert time.perf_counter() - start < 0.5
    assert "build_seconds" in second.stats and np.array_equal(first.x, second.x)
    assert np.array_equal(first.prev, second.prev) and np.array_equal(first.chord, second.chord)
    # A different config is a different cache entry.
    load_dataset(DataConfig(name="bach", max_files=6, key="original"))
    assert len(list(tmp_cache.glob("*.npz"))) == 2


def test_corrupt_empty_and_non_midi_files_are_skipped_and_counted(tmp_path, tmp_cache, caplog):
    folder = tmp_path / "songs"
    make_midi(folder / "good.mid", [(0, 4, 60), (4, 8, 62)])
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "notes.mid").write_text("this is a text file, not MIDI")
    make_midi(folder / "silent.mid", [])
    ds = load_dataset(DataConfig(name=f"midi:{folder}", key="original"))
    assert len(ds) == 2
    assert ds.stats["files"] == 5 and ds.stats["failed_files"] == 4
    for name in ("corrupt.mid", "empty.mid", "notes.mid", "silent.mid"):
        assert any(name in r.getMessage() for r in caplog.records), name


def test_folder_with_no_usable_bars_fails_with_one_clear_line(tmp_path, tmp_cache):
    folder = tmp_path / "waltzes"
    make_midi(folder / "waltz.mid", [(0, 3, 60), (3, 6, 62)], numerator=3)
    (folder / "broken.mid").write_bytes(b"not midi")
    with pytest.raises(UserError, match=r"no usable bars in 2 files \(1 unreadable\)"):
        load_dataset(DataConfig(name=f"midi:{folder}"))


def test_missing_or_empty_folder_fails_clearly(tmp_path, tmp_cache):
    with pytest.raises(UserError, match="no such folder"):
        load_dataset(DataConfig(name=f"midi:{tmp_path / 'nope'}"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .mid or .midi files"):
        load_dataset(DataConfig(name=f"midi:{tmp_path / 'empty'}"))


@pytest.mark.parametrize("cfg, message", [
    (DataConfig(name="mozart"), "unknown data set 'mozart'; valid: bach, celtic, fiddle, essen, midi:PATH, motifs, ring, grid"),
    (DataConfig(name="bach", key="D"), "key='D' is invalid; valid: C, original"),
    (DataConfig(name="bach", augment=20), "augment=20 is invalid; valid: an integer in 0..11"),
    (DataConfig(name="motifs", k_motifs=0), "k_motifs=0 is invalid; valid: an integer in 1..200"),
    (DataConfig(name="ring", n_samples=3), "n_samples=3 is invalid"),
])
def test_invalid_names_and_parameters_list_what_is_valid(cfg, message):
    with pytest.raises(UserError) as err:
        load_dataset(cfg)
    assert message in str(err.value)


def test_cli_prints_sizes_and_writes_example_midi_and_png(tmp_path, tmp_cache, capsys):
    from mgen.cli import main

    assert main(["data", "info", "bach", "--max-files", "3", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert '"bars"' in out and '"chords"' in out and '"pitch_range"' in out
    assert (tmp_path / "o" / "bach_examples.mid").stat().st_size > 0
    assert (tmp_path / "o" / "bach_examples.png").stat().st_size > 0
    assert main(["data", "build", "mozart"]) == 2
    assert "unknown data set 'mozart'" in capsys.readouterr().err
