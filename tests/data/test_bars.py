"""Bar conversion, chord labels and MIDI round trips on hand-made data with exact answers."""
import numpy as np
import pretty_midi

from mgen.data import DataConfig, load_dataset
from mgen.data.bars import Piece, bar_starts, chord_label, piece_to_bars, render_roll, skyline
from mgen.data.midi import midi_to_piece
from mgen.export import bars_to_midi, roll_to_notes, write_midi
from tests.conftest import make_midi


def active(bar):
    return sorted(zip(*np.nonzero(bar)))


def test_hand_made_midi_gives_exact_bars(tmp_path, tmp_cache):
    # Bar 1: C4 quarter, E4 eighth, G4 eighth, C5 half. Bar 2: D4 whole; a lower voice under it.
    notes = [(0, 1, 60), (1, 1.5, 64), (1.5, 2, 67), (2, 4, 72), (4, 8, 62), (4, 6, 50)]
    make_midi(tmp_path / "midi" / "a.mid", notes, drums=[0, 1, 2])
    ds = load_dataset(DataConfig(name=f"midi:{tmp_path / 'midi'}", key="original"))
    assert ds.x.shape == (2, 16, 128)
    expected = [(s, 60) for s in range(0, 4)] + [(s, 64) for s in (4, 5)] + [(s, 67) for s in (6, 7)] \
        + [(s, 72) for s in range(8, 16)]
    assert active(ds.x[0]) == expected
    # Top voice only: D4 over the low D3, which is dropped.
    assert active(ds.x[1]) == [(s, 62) for s in range(16)]
    # The previous bar of bar 2 is bar 1; bar 1 has none.
    assert not ds.prev[0].any() and np.array_equal(ds.prev[1], ds.x[0])
    # Chords: C-E-G(-C) is C major; D with D below is read as D major (root-weighted template).
    assert ds.chord[0][0] == 1 and ds.chord[0][12] == 0
    assert ds.chord[1][2] == 1


def test_chord_labels_on_known_chords():
    def label_of(pitches):
        roll = np.zeros((16, 128), bool)
        roll[:, pitches] = True
        hist = np.bincount(np.array(pitches) % 12, minlength=12).astype(float)
        return chord_label(hist)

    c_major, a_minor, g_first_inversion, e_minor = (label_of(p) for p in ([60, 64, 67], [57, 60, 64], [59, 62, 67], [64, 67, 71]))
    assert c_major.argmax() == 0 and c_major[12] == 0
    assert a_minor[:12].argmax() == 9 and a_minor[12] == 1
    assert g_first_inversion[:12].argmax() == 7 and g_first_inversion[12] == 0
    assert e_minor[:12].argmax() == 4 and e_minor[12] == 1
    assert not chord_label(np.zeros(12)).any()


def test_midi_round_trip_keeps_every_note(tmp_path):
    notes = [(0, 0.5, 60), (0.5, 1, 60), (1, 2, 62), (2, 2.25, 64), (2.25, 3, 65), (3, 4, 67),
             (4, 5, 69), (5, 5.5, 71), (6, 8, 72)]
    make_midi(tmp_path / "in.mid", notes)
    piece = midi_to_piece(pretty_midi.PrettyMIDI(str(tmp_path / "in.mid")), "in")
    bars = piece_to_bars(piece).bars
    write_midi(bars, tmp_path / "out.mid")
    back = midi_to_piece(pretty_midi.PrettyMIDI(str(tmp_path / "out.mid")), "out")
    # Same notes, same onsets and pitches; the first of two repeated C4s ends a sixteenth early.
    assert [(round(on, 3), p) for on, _, p in back.harmony] == [(on, p) for on, _, p in notes]
    ends = [round(e, 3) for _, e, _ in back.harmony]
    assert ends == [0.25] + [e for _, e, _ in notes[1:]]
    # Second round trip is exact.
    bars2 = piece_to_bars(back).bars
    assert np.array_equal(bars, bars2)


def test_repeated_notes_stay_apart_in_the_roll():
    notes = np.array([(0, 1, 60), (1, 2, 60), (2, 2.25, 62), (2.25, 2.5, 62)], float)
    roll = render_roll(notes, 16)
    rows = roll_to_notes(roll)
    assert [(on, p) for on, _, p in rows] == [(0, 60), (1, 60), (2, 62)]  # two sixteenths merge (documented)


def test_skyline_keeps_the_top_voice():
    roll = np.zeros((4, 128), bool)
    roll[:, 60] = True
    roll[1:3, 67] = True
    top = skyline(roll)
    assert active(top) == [(0, 60), (1, 67), (2, 67), (3, 60)]


def test_pickups_odd_meters_and_split_measures():
    measures = np.array([
        (0, 1, 4),  # pickup: skipped
        (1, 4, 4), (5, 4, 4),  # two bars
        (9, 3, 4), (12, 1, 4),  # one measure split at a repeat sign: joined into one bar
        (13, 3, 3), (16, 3, 3),  # 3/4: skipped
        (19, 2, 2), (21, 2, 2),  # two 2/4 measures: one bar
        (23, 2, 2),  # lone 2/4 measure: skipped
    ], float)
    starts, counts = bar_starts(measures)
    assert starts == [4, 20, 36, 76]
    assert counts == {"skipped_partial": 2, "skipped_meter": 2}


def test_empty_bars_are_dropped_but_stay_previous_bars():
    notes = np.array([(0, 4, 60), (8, 12, 64)], float)
    measures = np.array([(0, 4, 4), (4, 4, 4), (8, 4, 4)], float)
    pb = piece_to_bars(Piece("p", notes, notes, measures))
    assert len(pb.bars) == 2 and pb.counts["skipped_empty"] == 1
    assert not pb.prev[1].any()  # bar 3 follows the silent bar 2


def test_transposition_augmentation_adds_shifted_copies(tmp_path, tmp_cache):
    make_midi(tmp_path / "m" / "a.mid", [(0, 4, 60), (4, 8, 64)])
    base = load_dataset(DataConfig(name=f"midi:{tmp_path / 'm'}", key="original"))
    aug = load_dataset(DataConfig(name=f"midi:{tmp_path / 'm'}", key="original", augment=2))
    assert len(aug) == 5 * len(base)
    first_bar_pitches = sorted(int(np.nonzero(b.any(0))[0][0]) for b in aug.x[::2])
    assert first_bar_pitches == [58, 59, 60, 61, 62]


def test_bars_to_midi_plays_bars_back_to_back():
    bars = np.zeros((2, 16, 128), bool)
    bars[0, :, 60] = True
    bars[1, :8, 62] = True
    pm = bars_to_midi(bars, tempo=120)
    notes = [(n.start, n.end, n.pitch) for n in pm.instruments[0].notes]
    assert notes == [(0.0, 2.0, 60), (2.0, 3.0, 62)]


def test_a_piece_without_measures_gives_no_bars():
    notes = np.array([(0, 1, 60)], float)
    pb = piece_to_bars(Piece("p", notes, notes, np.zeros((0, 3))))
    assert len(pb.bars) == 0
