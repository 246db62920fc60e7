"""MIDI input: a PrettyMIDI file as a Piece (its notes and measures), read by mgen/data/corpora.py."""
from __future__ import annotations

import numpy as np
import pretty_midi

from mgen.data.bars import Piece


def midi_to_piece(pm: pretty_midi.PrettyMIDI, name: str) -> Piece:
    """A PrettyMIDI as a Piece: notes of non-drum instruments and measures from its time signatures."""
    def quarters(t: float) -> float:
        return pm.time_to_tick(t) / pm.resolution

    notes = [(quarters(n.start), quarters(n.end), n.pitch)
             for inst in pm.instruments if not inst.is_drum for n in inst.notes if n.end > n.start]
    harmony = np.asarray(sorted(notes), dtype=float).reshape(-1, 3)
    end_q = harmony[:, 1].max() if len(harmony) else 0.0
    downbeats = [quarters(t) for t in pm.get_downbeats()] if len(harmony) else []
    signatures = [(quarters(ts.time), ts.numerator * 4.0 / ts.denominator) for ts in pm.time_signature_changes]
    signatures = signatures or [(0.0, 4.0)]  # MIDI's default meter is 4/4
    measures = []
    for i, start in enumerate(downbeats):
        if start >= end_q - 1e-6:
            break
        nominal = [n for t, n in signatures if t <= start + 1e-6]
        nominal = nominal[-1] if nominal else signatures[0][1]
        stop = downbeats[i + 1] if i + 1 < len(downbeats) else start + nominal
        measures.append((start, stop - start, nominal))
    # The melody is the top voice (skyline) of all instruments; bars.piece_to_bars takes it from the roll.
    return Piece(name, harmony, harmony, np.asarray(measures, dtype=float).reshape(-1, 3))
