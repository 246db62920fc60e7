"""The metric sanity ladder on real data: constructed generators must rank as their construction says."""
import subprocess
import sys

import pytest

from mgen.data import DataConfig, load_dataset
from mgen.metrics.ladder import check_order, run_ladder


@pytest.mark.slow
@pytest.mark.parametrize("name,n", [("bach", 256), ("bach", 1000), ("motifs", 1000)])
def test_ladder_order_holds(name, n):
    frame = run_ladder(load_dataset(DataConfig(name=name)), n)
    assert frame.attrs["n"] == n
    failed = [text for text, ok in check_order(frame, diverse=name != "motifs") if not ok]
    assert not failed, f"{name} n={n}: {failed}\n{frame.round(3).to_string()}"
    if name == "bach":  # what the issue asked for in so many words
        assert max(frame.loc[["k1", "hub_roll", "hub_embedding"], "coverage"]) < 0.05
        assert frame.loc["random_cells", "precision"] < 0.05
    else:
        assert frame.loc["motif_8", "modes_captured"] == 8 and frame.loc["motif_8", "collapsed"] == 0


@pytest.mark.slow
def test_metrics_check_command_prints_the_ladder_and_its_verdict(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mgen.cli", "metrics", "check", "motifs", "--n", "256",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "expected order holds" in out.stdout and "FAIL" not in out.stdout
    for row in ("held_out", "memoriser", "k64", "k1", "hub_embedding", "random_cells", "motif_8"):
        assert row in out.stdout
    assert (tmp_path / "ladder_motifs_256.csv").exists()


def test_distinct_bars_are_the_first_occurrences_of_the_distinct_rows():
    """K distinct bars among repeats: all K come back, each once, the first occurrence of each in the shuffled
    order, as np.unique(axis=0) finds them."""
    import numpy as np

    from mgen.metrics.ladder import distinct_bars

    rng = np.random.default_rng(0)
    k_bars = rng.random((5, 16, 128)) < 0.05
    k_bars[1] = k_bars[0]
    k_bars[1, 3, 7] = ~k_bars[0, 3, 7]  # bars 0 and 1 differ in one cell (one bit once packed) only
    bars = k_bars[rng.integers(0, 5, 200)]
    got = distinct_bars(bars, 99, np.random.default_rng(1))
    assert len(got) == 5 and len({b.tobytes() for b in got}) == 5
    order = np.random.default_rng(1).permutation(len(bars))
    _, first = np.unique(bars[order].reshape(len(bars), -1), axis=0, return_index=True)
    np.testing.assert_array_equal(got, bars[order[np.sort(first)]])
    assert len(distinct_bars(bars, 3, np.random.default_rng(1))) == 3
