"""Audio out: which renderer ran, and why, in the words a user reads."""
import importlib.util
import wave

import numpy as np

from mgen.cli import main
from mgen.export import write_wav


def test_wav_says_which_renderer_ran_and_why(tmp_path):
    bars = np.zeros((2, 16, 128))
    bars[:, ::4, 60] = 1
    renderer = write_wav(bars, tmp_path / "a.wav")
    if importlib.util.find_spec("fluidsynth") is None:  # as in CI: the `audio` extra is not installed
        assert renderer == ("sine waves, because the fluidsynth Python binding is not installed "
                            "(pip install 'mgen[audio]')")
    else:
        assert renderer.startswith("fluidsynth (") or renderer.startswith("sine waves, because "), renderer
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert w.getnframes() > 22050 * 3  # two 4/4 bars at 120 bpm: 4 s
    assert write_wav(np.zeros((1, 16, 128)), tmp_path / "silent.wav").startswith(renderer.split(" (")[0].split(",")[0])


def test_generate_refuses_a_missing_soundfont_in_one_line(tmp_path, capsys):
    assert main(["generate", "ckpt.pt", "--wav", "--soundfont", str(tmp_path / "nope.sf2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"mgen: error: --soundfont {tmp_path / 'nope.sf2'}: no such file; give a General MIDI .sf2 file"
