"""Audio out: which renderer ran, and why, in the words a user reads."""
import importlib.util
import wave

import numpy as np

from mgen.cli import main
from mgen.export import fluidsynth_problem, write_wav


def harmonic_share(path) -> float:
    """Share of a WAV's spectral energy away from the fundamental of C4 (261.6 Hz) and its +-15 Hz."""
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(float)
        fs = w.getframerate()
    power = np.abs(np.fft.rfft(x)) ** 2
    freq = np.fft.rfftfreq(len(x), 1 / fs)
    return float(power[np.abs(freq - 261.6) > 15].sum() / power.sum())


def test_wav_says_which_renderer_ran_and_why(tmp_path):
    bars = np.zeros((2, 16, 128))
    bars[:, ::4, 60] = 1
    renderer = write_wav(bars, tmp_path / "a.wav")
    problem = fluidsynth_problem()
    if importlib.util.find_spec("fluidsynth") is None:  # the `audio` extra is not installed
        assert renderer == ("sine waves, because the fluidsynth Python binding is not installed "
                            "(pip install 'mgen[audio]')")
    elif problem is None:  # binding, libfluidsynth and a GM SoundFont: a piano, not a sine (CI installs all three)
        assert renderer.startswith("fluidsynth (") and renderer.endswith(".sf2)"), renderer
        sine = write_wav(bars, tmp_path / "sine.wav", soundfont=tmp_path / "a.wav")  # a WAV is no SoundFont
        assert sine == f"sine waves, because {tmp_path / 'a.wav'} is not a SoundFont 2 file", sine
        assert harmonic_share(tmp_path / "a.wav") > 0.3 > 0.15 > harmonic_share(tmp_path / "sine.wav")  # 0.57, 0.06 here
    else:
        assert renderer == f"sine waves, because {problem}", renderer
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert w.getnframes() > 22050 * 3  # two 4/4 bars at 120 bpm: 4 s
    assert write_wav(np.zeros((1, 16, 128)), tmp_path / "silent.wav").startswith(renderer.split(" (")[0].split(",")[0])


def test_generate_refuses_a_missing_soundfont_in_one_line(tmp_path, capsys):
    assert main(["generate", "ckpt.pt", "--wav", "--soundfont", str(tmp_path / "nope.sf2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"mgen: error: --soundfont {tmp_path / 'nope.sf2'}: no such file; give a General MIDI .sf2 file"
