"""The atlas's analysis on constructed results whose answers are known: one hyperparameter drives the
metric and another is noise; collapse depends on the D/G ratio alone; adherence on the learning-rate ratio."""
import numpy as np
import pandas as pd
import pytest

from mgen.analysis import maps, sensitivity
from mgen.analysis.results import StudyResults

RATIOS = {"5:1": 2.32, "2:1": 1.0, "1:1": 0.0, "1:2": -1.0, "1:5": -2.32}


def synthetic(n: int = 160, seed: int = 0) -> StudyResults:
    """GAN trials over the ratios and log-uniform learning rates. coverage = 0.6 - 0.1 |log2 dg| + noise
    (lr_g has no effect); collapsed with P 0.8 at 1:5 and 0.05 elsewhere; chord_adherence = 0.5 + 0.4 x
    log10(lr_d / lr_g) + noise."""
    rng = np.random.default_rng(seed)
    ratio = rng.choice(list(RATIOS), n)
    log_dg = np.array([RATIOS[r] for r in ratio])
    lr_d, lr_g = 10 ** rng.uniform(-4, -2.5, n), 10 ** rng.uniform(-4, -2.5, n)
    trials = pd.DataFrame({
        "trial_id": [f"t{i}" for i in range(n)], "method": "gan", "conditioning": "chord/1d", "d_norm": "spectral",
        "dg_ratio": ratio, "log_dg": log_dg, "log10_lr_ratio": np.log10(lr_d / lr_g),
        "param/dg_ratio": ratio, "param/lr_d": lr_d, "param/lr_g": lr_g, "param/seed": rng.integers(0, 3, n),
        "coverage": 0.6 - 0.1 * np.abs(log_dg) + rng.normal(0, 0.02, n),
        "collapsed": (rng.random(n) < np.where(ratio == "1:5", 0.8, 0.05)).astype(float),
        "chord_adherence": 0.5 + 0.4 * np.log10(lr_d / lr_g) + rng.normal(0, 0.05, n)})
    return StudyResults(uri="synthetic", trials=trials, history=pd.DataFrame(), summary={})


def test_importance_intervals_put_the_driving_parameter_first_and_apart_from_the_noise():
    table = sensitivity.importance_intervals(synthetic(100).trials, "coverage", n_boot=8)
    assert set(table.index) == {"dg_ratio", "lr_d", "lr_g", "seed"} and (table["resamples"] == 8).all()
    assert table["importance"].idxmax() == "dg_ratio" and table.loc["dg_ratio", "importance"] > 0.8
    assert (table["low"] <= table["importance"] + 1e-9).all() and (table["importance"] <= table["high"] + 1e-9).all()
    # The driver's interval lies wholly above every noise parameter's.
    assert table.loc["dg_ratio", "low"] > table.drop("dg_ratio")["high"].max()


def test_marginal_effects_separate_the_drivers_values_and_not_the_noises():
    table = sensitivity.marginal_effects(synthetic(400).trials, "coverage", bins=4)
    ratios = table[table["param"] == "dg_ratio"].set_index("value")
    assert ratios["trials"].sum() == 400 and (ratios["low"] <= ratios["mean"]).all() and (ratios["mean"] <= ratios["high"]).all()
    assert ratios.loc["1:1", "low"] > ratios.loc["2:1", "high"] > ratios.loc["5:1", "high"]  # 0.6 > 0.5 > 0.37
    noise = table[table["param"] == "lr_g"]
    assert len(noise) == 4 and noise["trials"].sum() == 400  # log-uniform: four quantile bins
    assert noise["low"].max() < noise["high"].min()  # every bin's interval overlaps every other's
    assert noise["value"].is_monotonic_increasing and (noise["value"] > 0).all()  # labelled by their medians


def test_expected_best_curves_rise_per_method_and_per_ratio_and_rank_the_ratios():
    curves = sensitivity.expected_max_curves(synthetic().trials, "coverage", n_boot=100)
    assert {"method=gan", "gan dg_ratio=1:1", "gan dg_ratio=1:5"} <= set(curves["group"])
    for _, c in curves.groupby("group"):
        assert c["expected_best"].is_monotonic_increasing and (c["low"] <= c["expected_best"] + 1e-9).all()
    at = curves[curves["n"] == 5].set_index("group")["expected_best"]
    assert at["gan dg_ratio=1:1"] > at["gan dg_ratio=2:1"] > at["gan dg_ratio=5:1"]
    # With one trial, the expectation is the mean of all; with all of them, the best one.
    gan = synthetic().trials["coverage"]
    whole = curves[curves["group"] == "method=gan"]
    assert whole["expected_best"].iloc[0] == pytest.approx(gan.mean()) and whole["expected_best"].iloc[-1] == pytest.approx(gan.max())


def test_the_collapse_boundary_finds_the_collapsing_ratio_with_intervals_that_hold_the_truth():
    table = maps.boundary_table(synthetic(600), "collapsed")
    by_ratio = table.groupby("dg_ratio").apply(lambda c: pd.Series({"k": (c["collapsed"] * c["trials"]).sum(),
                                                                      "n": c["trials"].sum()}))
    assert (by_ratio.loc["1:5", "k"] / by_ratio.loc["1:5", "n"]) > 0.6 > (by_ratio.drop("1:5")["k"] / by_ratio.drop("1:5")["n"]).max()
    assert ((table["low"] <= table["collapsed"]) & (table["collapsed"] <= table["high"])).all()
    truth = np.where(table["dg_ratio"] == "1:5", 0.8, 0.05)
    covered = ((table["low"] <= truth) & (truth <= table["high"])).mean()
    assert covered >= 0.8, table  # 95% intervals: nearly every cell holds its true probability
    assert set(table["lr_ratio"]) <= set(maps.LR_LABELS)


def test_the_adherence_boundary_follows_the_learning_rate_ratio(tmp_path):
    table = maps.boundary_table(synthetic(600), "chord_adherence")
    means = table.groupby("lr_ratio")["chord_adherence"].mean()
    assert means["2-10"] > means["~1"] > means["0.1-0.5"]
    png, csv = maps.boundary(synthetic(600), "chord_adherence", tmp_path)
    assert png.stat().st_size > 0 and len(pd.read_csv(csv)) == len(table)
