"""Bars out to people: MIDI files (pretty_midi), piano-roll PNGs (matplotlib) and WAV audio."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pretty_midi

from mgen.data.bars import PITCHES, STEPS, STEPS_PER_QUARTER

DEFAULT_TEMPO = 120.0  # beats per minute when writing bars out


def roll_to_notes(roll: np.ndarray, step_offset: int = 0) -> np.ndarray:
    """(onset, end, pitch) rows in quarters for each run of active steps of each pitch in a roll."""
    rows = []
    padded = np.pad(roll.astype(np.int8), ((1, 1), (0, 0)))
    diff = np.diff(padded, axis=0)  # +1 at onsets, -1 one past the last active step
    for pitch in np.nonzero(roll.any(axis=0))[0]:
        on = np.nonzero(diff[:, pitch] == 1)[0]
        off = np.nonzero(diff[:, pitch] == -1)[0]
        for a, b in zip(on, off):
            rows.append(((a + step_offset) / STEPS_PER_QUARTER, (b + step_offset) / STEPS_PER_QUARTER, pitch))
    rows.sort()
    return np.asarray(rows, dtype=float).reshape(-1, 3)


def bars_to_midi(bars: np.ndarray, tempo: float = DEFAULT_TEMPO, program: int = 0) -> pretty_midi.PrettyMIDI:
    """Bars (n, 16, 128), played one after another in 4/4, as a one-instrument PrettyMIDI."""
    bars = np.asarray(bars) > 0.5
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(program=program, name="mgen")
    seconds_per_quarter = 60.0 / tempo
    roll = bars.reshape(-1, PITCHES)
    for on, off, pitch in roll_to_notes(roll):
        inst.notes.append(pretty_midi.Note(velocity=90, pitch=int(pitch),
                                           start=on * seconds_per_quarter, end=off * seconds_per_quarter))
    pm.instruments.append(inst)
    return pm


def write_midi(bars: np.ndarray, path: str | Path, tempo: float = DEFAULT_TEMPO) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bars_to_midi(bars, tempo).write(str(path))
    return path


def _save_figure(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_piano_roll(bars: np.ndarray, path: str | Path, title: str = "", bars_per_row: int = 8) -> Path:
    """A PNG of bars laid out left to right, rows of `bars_per_row`, pitch axis cropped to the notes used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = np.asarray(bars) > 0.5
    n = len(bars)
    rows = max(1, int(np.ceil(n / bars_per_row)))
    used = np.nonzero(bars.any(axis=(0, 1)))[0] if bars.any() else np.array([60, 72])
    lo, hi = max(0, used.min() - 2), min(PITCHES, used.max() + 3)
    canvas = np.zeros((rows, hi - lo, bars_per_row * STEPS))
    for i, bar in enumerate(bars):
        r, c = divmod(i, bars_per_row)
        canvas[r, :, c * STEPS:(c + 1) * STEPS] = bar[:, lo:hi].T
    fig, axes = plt.subplots(rows, 1, figsize=(12, 1.6 * rows + 0.6), squeeze=False)
    for r, ax in enumerate(axes[:, 0]):
        ax.imshow(canvas[r], origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(0, bars_per_row * STEPS, lo - 0.5, hi - 0.5))
        for b in range(1, bars_per_row):
            ax.axvline(b * STEPS, color="tab:blue", lw=0.5)
        ax.set_ylabel("pitch")
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("sixteenth steps")
    return _save_figure(fig, path)


def save_points(points: np.ndarray, path: str | Path, title: str = "", modes: np.ndarray | None = None,
                reference: np.ndarray | None = None) -> Path:
    """A PNG scatter of 2D samples, with the data's modes (and a real sample) behind them when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    if reference is not None:
        ax.scatter(*np.asarray(reference).T, s=4, c="tab:blue", alpha=0.3, label="real")
    if modes is not None:
        ax.scatter(*np.asarray(modes).T, s=40, marker="x", c="tab:red", label="modes")
    ax.scatter(*np.asarray(points).T, s=4, c="black", label="generated")
    ax.set_xlim(-2.5, 2.5)
    ax.set_ylim(-2.5, 2.5)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    return _save_figure(fig, path)


SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
              "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/soundfonts/default.sf2")


def find_soundfont(named: str | Path | None = None) -> Path | None:
    """The General MIDI SoundFont to use: the one named (argument, then $MGEN_SOUNDFONT), else one of the
    usual system locations (Debian's fluid-soundfont-gm), else None."""
    import os

    named = named or os.environ.get("MGEN_SOUNDFONT")
    if named:
        return Path(named).expanduser() if Path(named).expanduser().is_file() else None
    return next((Path(c) for c in SOUNDFONTS if Path(c).exists()), None)


def fluidsynth_problem(soundfont: str | Path | None = None) -> str | None:
    """Why fluidsynth cannot render here (binding, library or SoundFont missing), or None."""
    import importlib.util

    if importlib.util.find_spec("fluidsynth") is None:
        return "the fluidsynth Python binding is not installed (pip install 'mgen[audio]')"
    try:
        import fluidsynth  # noqa: F401  # loads libfluidsynth
    except (ImportError, OSError) as exc:
        return f"the fluidsynth library could not be loaded ({str(exc).splitlines()[0][:120]}); install libfluidsynth"
    sf2 = find_soundfont(soundfont)
    if sf2 is None:
        named = soundfont or __import__("os").environ.get("MGEN_SOUNDFONT")
        return (f"the SoundFont {named} does not exist" if named else
                "no General MIDI SoundFont found (install fluid-soundfont-gm, or name one with --soundfont or "
                "$MGEN_SOUNDFONT)")
    with open(sf2, "rb") as f:  # fluidsynth "renders" silence from a file it cannot load
        head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        return f"{sf2} is not a SoundFont 2 file"
    return None


def write_wav(bars: np.ndarray, path: str | Path, fs: int = 22050, soundfont: str | Path | None = None) -> str:
    """Render bars to a 16-bit WAV with fluidsynth and a GM SoundFont when both are there, else sine waves.

    Returns which renderer ran and, for sine waves, why fluidsynth did not: callers print it.
    """
    pm = bars_to_midi(bars)
    problem = fluidsynth_problem(soundfont)
    audio = None
    if problem is None:
        sf2 = find_soundfont(soundfont)
        try:
            audio = pm.fluidsynth(fs=fs, sf2_path=str(sf2))
            renderer = f"fluidsynth ({sf2.name})"
            if pm.instruments[0].notes and not np.abs(audio).max() > 0:
                audio, problem = None, f"fluidsynth rendered silence with {sf2.name}"
        except Exception as exc:  # a broken library or SoundFont: sine synthesis is the documented fallback
            problem = f"fluidsynth failed ({type(exc).__name__}: {str(exc)[:120]})"
    if audio is None:
        renderer = f"sine waves, because {problem}"
        if pm.instruments[0].notes:
            audio = pm.synthesize(fs=fs)
        else:  # silent bars: silence of the same length (pretty_midi cannot normalise silence)
            audio = np.zeros(int(len(bars) * 4 * 60.0 / DEFAULT_TEMPO * fs))
    peak = np.abs(audio).max() if len(audio) else 0.0
    pcm = (audio / peak * 0.9 * 32767 if peak > 0 else audio).astype(np.int16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(fs)
        w.writeframes(pcm.tobytes())
    return renderer
