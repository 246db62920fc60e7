"""Every metric on constructed cases whose answer is known."""

import numpy as np
import pytest

from mgen.metrics import evaluate
from mgen.metrics.collapse import duplicates, is_collapsed, memorisation, z_sensitivity
from mgen.metrics.decoding import decode_bars
from mgen.metrics.frechet import frechet_distance
from mgen.metrics.knn import prdc
from mgen.metrics.modes import mixture_modes, motif_modes
from mgen.metrics.music import bar_features, music_statistics
from mgen.metrics.ndb import ndb_bins

rng = np.random.default_rng(0)


def gaussian(n, shift=0.0, dim=8):
    return rng.standard_normal((n, dim)) + shift


def test_real_against_itself_and_a_fresh_sample_gives_coverage_and_density_near_one():
    real = gaussian(2000)
    same = prdc(real, real)
    assert same["coverage"] == 1.0 and same["precision"] == 1.0 and same["recall"] == 1.0
    assert 0.9 < same["density"] < 1.2
    fresh = prdc(real, gaussian(2000))
    assert fresh["coverage"] > 0.9 and 0.8 < fresh["density"] < 1.2 and fresh["precision"] > 0.85


def test_shifted_distributions_lower_precision_and_coverage():
    real = gaussian(2000)
    scores = [prdc(real, gaussian(2000, shift)) for shift in (0.0, 0.5, 1.0, 2.0)]
    precisions = [s["precision"] for s in scores]
    assert precisions == sorted(precisions, reverse=True) and precisions[-1] < 0.5 * precisions[0]
    assert scores[-1]["coverage"] < 0.5 * scores[0]["coverage"]


def random_bars(n, seed=0):
    """Monophonic random bars: one pitch a step, from 60..83."""
    r = np.random.default_rng(seed)
    bars = np.zeros((n, 16, 128), bool)
    bars[np.arange(n)[:, None], np.arange(16)[None], r.integers(60, 84, (n, 16))] = True
    return bars


def test_one_bar_repeated_is_collapse():
    real = random_bars(1000)
    one = np.repeat(real[:1], 1000, axis=0)
    same_condition = one[:100].reshape(10, 10, 16, 128)
    m = evaluate(one, real, same_condition=same_condition)
    healthy = evaluate(random_bars(1000, seed=1), real, same_condition=random_bars(100, 2).reshape(10, 10, 16, 128))
    assert m["coverage"] < 0.05 and m["coverage"] < healthy["coverage"] / 10
    assert m["duplicate_rate"] == 1.0 and m["distinct"] == 1.0
    assert m["z_sensitivity"] == 0.0 and m["collapsed"] == 1.0
    assert healthy["collapsed"] == 0.0 and healthy["duplicate_rate"] == 0.0 and healthy["z_sensitivity"] > 0.9


def test_duplicates_exact_and_near():
    bars = random_bars(10)
    near = bars.copy()
    near[:, 0] = False
    near[:, 0, 60] = True  # each differs from its twin in at most 2 cells
    both = np.concatenate([bars, near, bars[:2]])
    d = duplicates(both.astype(np.float32), near_threshold=np.sqrt(2))
    assert d["duplicate_rate"] == pytest.approx(4 / 22)  # bars[0], bars[1] and their exact copies
    assert d["distinct"] == pytest.approx(20 - (near[:, 0] == bars[:, 0]).all(axis=1).sum())
    assert d["near_duplicate_rate"] == 1.0


def test_z_sensitivity_is_output_spread_over_real_spread():
    real = np.array([[0.0, 0.0], [2.0, 0.0]] * 50)
    groups = np.array([[[0.0, 0.0], [0.5, 0.0]]] * 5)  # within a group: distance 0.5
    # Random distinct real pairs are 2 apart half the time: mean real distance about 1.
    assert z_sensitivity(groups, real) == pytest.approx(0.5, rel=0.05)
    # collapsed: diversity under 0.3, or z_sensitivity under 0.1 when it was measured
    assert is_collapsed(0.2) and is_collapsed(0.9, 0.05) and not is_collapsed(0.9, 0.5)
    assert not is_collapsed(0.9, float("nan")) and is_collapsed(0.2, float("nan"))


def test_ndb_finds_the_bin_that_was_emptied():
    centres = np.array([[10.0 * i, 10.0 * (i % 3)] for i in range(10)])
    labels = rng.integers(10, size=5000)
    real = centres[labels] + rng.standard_normal((5000, 2))
    fake_labels = rng.integers(10, size=5000)
    fake_labels[fake_labels == 3] = 4  # cluster 3 emptied, its mass moved to cluster 4
    fake = centres[fake_labels] + rng.standard_normal((5000, 2))
    p, q, different = ndb_bins(real, fake, bins=10)
    emptied = int(np.argmax(p - q))
    assert q[emptied] == 0.0 and different[emptied]
    crowded = int(np.argmax(q - p))
    assert different[crowded] and different.sum() <= 4


def test_ring_metric_counts_exactly_the_modes_a_sample_covers():
    from mgen.data.synthetic import ring_centres

    centres, std = ring_centres(), 0.01
    covered = [0, 2, 5]
    near = np.concatenate([centres[i] + std * rng.uniform(-1, 1, (10, 2)) for i in covered])
    one_stray = centres[[7]] + 0.5 * std  # one sample at mode 7: captured by the protocol, not by the strict count
    far = np.zeros((19, 2))  # the centre of the ring is far from every mode
    m = mixture_modes(np.concatenate([near, one_stray, far]), centres, std)
    assert m["modes_captured"] == 4 and m["modes_captured_5"] == 3 and m["modes_total"] == 8
    assert m["high_quality"] == pytest.approx(31 / 50)


def test_motif_metric_counts_generated_motifs():
    motifs = random_bars(6)
    fake = np.concatenate([np.repeat(motifs[:4], 5, axis=0), random_bars(10, seed=9)])
    m = motif_modes(fake, motifs)
    assert m["modes_captured"] == 4 and m["high_quality"] == pytest.approx(20 / 30)


def hand_made_bars():
    bar = np.zeros((16, 128), bool)
    bar[0:4, 60] = True  # C4 quarter
    bar[4:6, 64] = True  # E4 eighth
    bar[6:7, 67] = True  # G4 sixteenth
    bar[8:12, 72] = True  # C5 quarter (a rest before it)
    bar[12:13, 61] = True  # C#4 sixteenth: in no major scale with C, E and G
    return np.stack([bar, np.zeros((16, 128), bool)])


def test_music_statistics_on_hand_made_bars_are_exact():
    bars = hand_made_bars()
    features, nonempty = bar_features(bars)
    assert nonempty.tolist() == [True, False]
    assert features["notes_per_bar"][0] == 5
    assert features["used_pitch_classes"][0] == 4  # C, E, G, C#
    assert features["pitch_range"][0] == 12  # C4..C5
    assert features["mean_interval"][0] == pytest.approx((4 + 3 + 5 + 11) / 4)
    assert features["scale_consistency"][0] == pytest.approx(4 / 5)  # best scale (C, F or G major) misses C#
    assert features["qualified_note_rate"][0] == pytest.approx(3 / 5)  # two sixteenths of five notes
    # Duration-weighted pitch classes: C 8 steps, E 2, G 1, C# 1 of 12.
    p = np.array([8, 2, 1, 1]) / 12
    assert features["pc_entropy"][0] == pytest.approx(-(p * np.log2(p)).sum())
    stats = music_statistics(bars, np.repeat(bars[:1], 4, axis=0))
    assert stats["empty_bar_rate"] == 0.5 and stats["notes_per_bar"] == 5.0
    assert stats["empty_bar_rate_real"] == 0.0 and stats["notes_per_bar_real"] == 5.0


def test_overlap_is_high_for_the_same_distribution_and_low_for_a_different_one():
    real = random_bars(300)
    same = music_statistics(random_bars(300, seed=5), real)
    different = music_statistics(np.repeat(hand_made_bars()[:1], 300, axis=0), real)
    assert same["music_overlap"] > 0.85
    assert different["music_overlap"] < 0.5 and different["kl_notes_per_bar"] > same["kl_notes_per_bar"]


def test_empty_generated_bars_cover_nothing():
    real = random_bars(500)
    silence = np.zeros((500, 16, 128), bool)
    m = evaluate(silence, real)
    assert m["coverage"] == 0.0 and m["precision"] == 0.0 and m["density"] == 0.0
    half = np.concatenate([real[:250], silence[:250]])
    h = evaluate(half, real)
    assert h["precision"] == pytest.approx(0.5, abs=0.02)


def test_prdc_equals_naeem_et_al_reference_implementation():
    """The `prdc` package (Naeem et al.'s own code) on the same data, continuous and with ties."""
    from prdc import compute_prdc

    cases = [(gaussian(600), gaussian(500, 0.3)),
             (random_bars(400).reshape(400, -1)[:, 60 * 16:84 * 16].astype(np.float32),  # ties everywhere
              random_bars(300, seed=3).reshape(300, -1)[:, 60 * 16:84 * 16].astype(np.float32))]
    for real, fake in cases:
        ours = prdc(real, fake, k=5)
        ref = compute_prdc(real, fake, nearest_k=5)
        for name in ("precision", "recall", "density", "coverage"):
            assert ours[name] == pytest.approx(float(ref[name]), abs=1e-6), name
    real, fake = cases[0]
    assert prdc(real, fake, distinct=True) == pytest.approx(prdc(real, fake))  # no repeated rows: the same


def test_coverage_counts_each_repeated_real_bar_once_for_its_ball_and_by_weight_for_coverage():
    real = np.repeat(gaussian(50), 10, axis=0)  # every real point ten times: strict balls of radius 0
    fake = real[::10] + 1e-3
    assert prdc(real, fake)["coverage"] == 0.0  # the reference semantics: nothing covers a copied point
    assert prdc(real, fake, distinct=True)["coverage"] == 1.0
    # Coverage is a share of real samples: a point held 40 times weighs 40 of 50.
    common, rare = gaussian(1), 1000 + gaussian(10)
    real = np.concatenate([np.repeat(common, 40, axis=0), rare])
    assert prdc(real, np.repeat(common + 1e-3, 10, axis=0), distinct=True)["coverage"] == pytest.approx(0.8)


def test_monophonic_decoding_plays_the_step_when_its_mass_is_half_and_takes_the_top_pitch():
    probs = np.zeros((1, 16, 128))
    probs[0, 0, 60:63] = 0.2  # spread over three pitches, each below 0.5: the step sounds (mass 0.6)
    probs[0, 0, 61] = 0.3
    probs[0, 1, 70] = 0.4  # mass 0.4: a rest
    probs[0, 2, [64, 67]] = 1.0  # a tie: the top voice
    bars = decode_bars(probs)
    assert np.nonzero(bars[0, 0])[0].tolist() == [61]
    assert not bars[0, 1].any() and np.nonzero(bars[0, 2])[0].tolist() == [67]
    assert (decode_bars(random_bars(20)) == random_bars(20)).all()  # notes decode to themselves
    assert decode_bars(probs, monophonic=False)[0, 2].sum() == 2  # polyphonic: each cell at 0.5


def test_frechet_distance_is_zero_for_one_distribution_and_grows_with_a_shift():
    base = gaussian(3000)
    same, near, far = (frechet_distance(base, gaussian(3000, s)) for s in (0.0, 0.5, 2.0))
    assert same < 0.05 and same < near < far
    assert far == pytest.approx(8 * 4.0, rel=0.15)  # ||shift||^2 over 8 dimensions
    assert np.isnan(frechet_distance(base, base[:1]))


def test_memorisation_tells_copies_from_new_bars():
    train = random_bars(200)
    near_copy = train[:50].copy()
    near_copy[:, 0] = False
    near_copy[:, 0, 60] = True  # at most two cells moved
    assert memorisation(train[:50], train) == 1.0 and memorisation(near_copy, train) == 1.0
    assert memorisation(random_bars(50, seed=7), train) == 0.0


def test_music_overlap_sees_a_generator_that_repeats_a_few_real_bars():
    real = random_bars(600)
    fresh = music_statistics(random_bars(600, seed=11), real)["music_overlap"]
    four = music_statistics(np.resize(real[:4], (600, 16, 128)), real)["music_overlap"]
    assert fresh > 0.85 and four < fresh - 0.15  # intra-generated distances are all 0 or a few values


def test_evaluate_returns_flat_floats_with_the_new_collapse_and_failure_flags():
    real = random_bars(800)
    healthy = evaluate(random_bars(400, seed=4), real, train=random_bars(300, seed=5))
    assert all(isinstance(v, float) for v in healthy.values())
    assert healthy["collapsed"] == 0.0 and healthy["failed"] == 0.0
    assert healthy["healthy_coverage"] == healthy["coverage"] > 0.5
    one = evaluate(np.repeat(real[:1], 400, axis=0), real)
    assert one["collapsed"] == 1.0 and one["healthy_coverage"] == pytest.approx(one["coverage"] - 1)
    assert evaluate(np.zeros((400, 16, 128)), real)["failed"] == 1.0
