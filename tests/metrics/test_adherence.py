"""Adherence metrics on hand-built bars whose answer is known, and the true-vs-shuffled gain's behaviour."""
import numpy as np
import pytest

from mgen.metrics import METRICS, evaluate
from mgen.metrics import adherence as A
from mgen.metrics.ladder import chord_tone_bars, held_last_note

C_MAJOR = np.eye(13, dtype=np.float32)[[0]]  # root C, major
A_MINOR = np.eye(13, dtype=np.float32)[[9]] + np.eye(13, dtype=np.float32)[[12]]  # root A, minor flag


def melody(*pitches, length=4):
    """One bar of consecutive notes, `length` steps each."""
    bar = np.zeros((1, 16, 128), bool)
    for i, p in enumerate(pitches):
        bar[0, i * length:(i + 1) * length, p] = True
    return bar


def test_triads_name_root_third_and_fifth():
    tones, named = A.triads(np.concatenate([C_MAJOR, A_MINOR, np.zeros((1, 13), np.float32)]))
    assert [set(np.nonzero(t)[0]) for t in tones[:2]] == [{0, 4, 7}, {9, 0, 4}]
    assert named.tolist() == [True, True, False] and tones[2].sum() == 0


@pytest.mark.parametrize("pitches,expected", [
    ((60, 64, 67, 72), 1.0),  # all chord tones
    ((60, 62, 64, 67), 1.0),  # D passes by step to E: a proper non-chord tone counts with the chord tones
    ((60, 62, 65, 67), 3 / 4),  # c = 2 (C, G), n = 2 (D leaps to F: not proper; F steps to G: proper)
    ((61, 66, 70, 71), 0.0),  # no chord tones, none resolving to one
])
def test_ctnctr_counts_chord_tones_and_step_resolved_non_chord_tones(pitches, expected):
    assert A.ctnctr_pairs(melody(*pitches), C_MAJOR)[0, 0] == pytest.approx(expected)


def test_tonal_distance_is_zero_for_the_triad_itself_and_grows_away_from_it():
    triad = melody(60, 64, 67, 72)[:, :, :]  # C E G C: profile C twice as heavy as E and G
    exact = np.zeros((1, 16, 128), bool)
    exact[0, :, [60, 64, 67]] = True  # the three tones, equally long
    near, far = A.tonal_distance_pairs(exact, C_MAJOR)[0, 0], A.tonal_distance_pairs(melody(61, 66, 68, 71), C_MAJOR)[0, 0]
    assert near == pytest.approx(0.0, abs=1e-6)
    assert 0 < A.tonal_distance_pairs(triad, C_MAJOR)[0, 0] < far


def test_bar_line_step_and_groove_compare_with_the_previous_bar():
    prev = melody(60, 62, 64, 65)  # ends on F4
    assert A.bar_line_step_pairs(melody(67, 65, 64, 62), prev)[0, 0] == 1.0  # G4: 2 semitones on
    assert A.bar_line_step_pairs(melody(72, 65, 64, 62), prev)[0, 0] == 0.0  # C5: a leap
    assert A.groove_similarity_pairs(melody(72, 65, 64, 62), prev)[0, 0] == 1.0  # same rhythm, other notes
    assert A.groove_similarity_pairs(melody(72, 65, length=8), prev)[0, 0] == pytest.approx(14 / 16)
    assert np.isnan(A.bar_line_step_pairs(melody(60), np.zeros((1, 16, 128), bool))[0, 0])  # no previous bar


def conditioned_set(n=300, seed=0):
    """Bars that follow their chords (chord tones with some steps between) and their previous bars (they
    start a step from its last note); the conditions vary from bar to bar."""
    rng = np.random.default_rng(seed)
    chords = np.zeros((n, 13), np.float32)
    chords[np.arange(n), rng.integers(0, 12, n)] = 1
    chords[:, 12] = rng.random(n) < 0.3
    tones, _ = A.triads(chords)
    prev = np.zeros((n, 16, 128), bool)
    bars = np.zeros((n, 16, 128), bool)
    for i in range(n):
        last = int(rng.integers(55, 75))
        prev[i, 12:16, last] = True
        prev[i, 0:12, int(rng.integers(55, 75))] = True
        classes = np.nonzero(tones[i])[0]
        pitches = [last + int(rng.choice([-2, -1, 1, 2]))] + [60 + int(rng.choice(classes)) for _ in range(3)]
        for k, p in enumerate(pitches):
            bars[i, 4 * k:4 * k + 4, p] = True
    return bars, prev, chords


def test_a_condition_blind_set_gains_nothing_and_a_following_one_gains():
    bars, prev, chords = conditioned_set()
    followed = A.measures(bars, prev, chords)
    perm = np.random.default_rng(1).permutation(len(bars))
    blind = A.measures(bars[perm], prev, chords)  # the same music under other bars' conditions
    for name in ("ctnctr", "tonal_distance", "bar_line_step"):
        assert followed[f"{name}_gain"] > 5 * followed[f"{name}_gain_se"] > 0
        assert abs(blind[f"{name}_gain"]) < 4 * blind[f"{name}_gain_se"] + 0.02
    m = A.condition_metrics(bars[perm], (prev, chords), bars, (prev, chords))
    assert abs(m["chord_adherence"]) < 0.15 and abs(m["prev_adherence"]) < 0.15
    same = A.condition_metrics(bars, (prev, chords), bars, (prev, chords))
    assert same["chord_adherence"] == pytest.approx(1.0) and same["prev_adherence"] == pytest.approx(1.0)


def test_a_measure_the_real_bars_do_not_follow_is_left_out_of_the_summary():
    """The constructed set's rhythm is the same in every bar, so its groove gain is 0: prev_adherence
    rests on bar_line_step alone, and a set that copies its previous bars' rhythm cannot inflate it."""
    bars, prev, chords = conditioned_set()
    real = A.measures(bars, prev, chords)
    assert not A.shows_gain(real, "groove_similarity") and A.shows_gain(real, "bar_line_step")
    copies = A.condition_metrics(prev, (prev, chords), bars, (prev, chords))
    assert copies["prev_copy_rate"] == 1.0 and copies["prev_copy_rate_real"] == 0.0
    assert copies["prev_adherence"] == pytest.approx(copies["bar_line_step_gain"] / real["bar_line_step_gain"])


def test_constructed_followers_beat_the_real_bars_on_their_condition():
    bars, prev, chords = conditioned_set()
    tones = A.condition_metrics(chord_tone_bars(chords), (prev, chords), bars, (prev, chords))
    hold = A.condition_metrics(held_last_note(prev), (prev, chords), bars, (prev, chords))
    assert tones["chord_adherence"] > 1.0 and tones["ctnctr"] == 1.0
    # the constructed bars all start a step from the previous bar's end, so holding it only matches them
    assert hold["bar_line_step"] == 1.0 and hold["prev_adherence"] == pytest.approx(1.0, abs=0.05)


def test_evaluate_reports_adherence_only_with_both_sides_conditions_and_declares_every_key():
    bars, prev, chords = conditioned_set(200)
    real, rreal = conditioned_set(200, seed=5)[0], conditioned_set(200, seed=5)[1:]
    with_c = evaluate(bars, real, conditions=(prev, chords), real_conditions=rreal)
    without = evaluate(bars, real)
    new = set(with_c) - set(without)
    assert {"chord_adherence", "prev_adherence", "ctnctr", "ctnctr_real", "prev_copy_rate"} <= new
    assert all(k in METRICS or (k.endswith("_real") and k[:-5] in METRICS) for k in new), new
    chord_only = evaluate(bars, real, conditions=(None, chords), real_conditions=rreal)
    assert "ctnctr" in chord_only and "bar_line_step" not in chord_only and np.isnan(chord_only["prev_adherence"])
