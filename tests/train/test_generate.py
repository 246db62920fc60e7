"""Chord symbols a user gives `mgen generate --chords`, read as the data's chord labels."""
import numpy as np
import pytest

from mgen.errors import UserError
from mgen.train.generate import parse_chords


def test_chord_symbols_become_root_and_minor_flag_labels():
    labels = parse_chords("C G Am F Bb F#m Ebmaj7 Dm7 Bdim, E7")
    roots = labels[:, :12].argmax(axis=1).tolist()
    assert roots == [0, 7, 9, 5, 10, 6, 3, 2, 11, 4]
    assert labels[:, 12].tolist() == [0, 0, 1, 0, 0, 1, 0, 1, 1, 0]  # minor third above the root: m, m7, dim
    assert (labels[:, :12].sum(axis=1) == 1).all() and labels.dtype == np.float32


@pytest.mark.parametrize("text,bad", [("C Hm F", "Hm"), ("C 7 F", "7"), ("Cxyz", "Cxyz")])
def test_a_bad_chord_symbol_is_one_error_naming_it(text, bad):
    with pytest.raises(UserError, match=f"'{bad}' is not a chord symbol"):
        parse_chords(text)


def test_no_chord_at_all_is_refused():
    with pytest.raises(UserError, match="names no chord"):
        parse_chords("  ")
