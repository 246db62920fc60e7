"""From a checkpoint to music: 8-bar phrases generated bar by bar, written as MIDI, piano rolls and WAV."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mgen.data import BarDataset, load_dataset
from mgen.data.bars import CHORD_DIM
from mgen.errors import UserError
from mgen.export import save_piano_roll, save_points, write_midi, write_wav
from mgen.metrics import decode_bars, health_status
from mgen.metrics.adherence import condition_metrics
from mgen.train.config import TrialConfig
from mgen.train.trial import TrialData, build_method, eval_conditions, load_checkpoint, resolve_device

PHRASE_BARS = 8


@dataclass
class LoadedGenerator:
    cfg: TrialConfig
    method: object  # a trained mgen.train.method.Method in eval mode
    data: TrialData
    step: int
    metrics: dict  # the evaluation at the checkpoint's step (empty for checkpoints older than this field)

    @property
    def status(self) -> str:
        """healthy, collapsed or failed by the checkpoint's own evaluation; unknown for older checkpoints."""
        return health_status(self.metrics) if self.metrics else "unknown"

    @property
    def warning(self) -> str | None:
        """A sentence when the checkpoint's own evaluation says the generator failed or collapsed."""
        m = self.metrics
        if self.status == "failed":
            return (f"this checkpoint (step {self.step}) had FAILED to train by its own evaluation "
                    f"(empty bar rate {m.get('empty_bar_rate', float('nan')):.2f}, precision {m.get('precision', float('nan')):.3f}): "
                    "its samples are not music the model learned")
        if self.status == "collapsed":
            return (f"this checkpoint (step {self.step}) was COLLAPSED by its own evaluation (diversity "
                    f"{m.get('diversity', float('nan')):.2f} of the real data's, {m.get('distinct', float('nan')):.0f} distinct bars "
                    f"of {self.cfg.eval_samples}): expect few, repeated outputs")
        return None


def load_generator(checkpoint: str | Path, device: str = "cpu") -> LoadedGenerator:
    state = load_checkpoint(checkpoint)
    cfg = TrialConfig.from_dict({**state["config"], "device": device})
    ds = load_dataset(cfg.data_config())
    data = TrialData(ds, resolve_device(device))
    method = build_method(cfg, data)
    for k, m in method.modules().items():
        m.load_state_dict(state["models"][k])
        m.eval()
    return LoadedGenerator(cfg, method, data, int(state["step"]), dict(state.get("metrics", {})))


def _phrase_starts(ds: BarDataset, n: int, g: torch.Generator) -> list[int]:
    """Indices of real bars that begin runs of PHRASE_BARS consecutive bars of one piece."""
    piece = ds.piece
    ok = [i for i in range(len(piece) - PHRASE_BARS + 1) if piece[i] == piece[i + PHRASE_BARS - 1]]
    ok = ok or list(range(len(piece)))
    pick = torch.randint(len(ok), (n,), generator=g)
    return [ok[int(i)] for i in pick]


CHORD_HELP = 'chord symbols, one a bar, e.g. "C G Am F" (a root A-G with # or b, then a quality: m, 7, m7, dim...)'


def parse_chords(text: str) -> np.ndarray:
    """Chord symbols ("C G Am F", read by music21) -> (n, 13) labels as the data holds them: the root's
    pitch class one-hot and a minor flag (a minor third above the root: m, m7, dim...). One bad symbol is a
    UserError naming it."""
    from music21 import harmony

    symbols = text.replace(",", " ").split()
    if not symbols:
        raise UserError(f"--chords {text!r} names no chord; give {CHORD_HELP}")
    labels = np.zeros((len(symbols), CHORD_DIM), np.float32)
    for i, symbol in enumerate(symbols):
        # music21 writes flats as "-" ("B-"); a "b" right after the root letter is the usual flat
        spelled = symbol[0].upper() + ("-" + symbol[2:] if symbol[1:2] == "b" else symbol[1:])
        try:
            chord = harmony.ChordSymbol(spelled)
            root, third = chord.root(), chord.third
        except Exception:
            raise UserError(f"--chords: {symbol!r} is not a chord symbol; give {CHORD_HELP}") from None
        if root is None or third is None or not symbol[0].isalpha():
            raise UserError(f"--chords: {symbol!r} is not a chord symbol; give {CHORD_HELP}")
        labels[i, root.pitchClass % 12] = 1.0
        labels[i, 12] = float((third.pitchClass - root.pitchClass) % 12 == 3)
    return labels


def prime_bar(path: str | Path, polyphonic: bool = False) -> np.ndarray:
    """The first bar of a MIDI file as the data's bars are cut (16 x 128, the top voice unless polyphonic)."""
    from mgen.data.bars import piece_to_bars
    from mgen.data.corpora import parse_midi_file

    if not Path(path).is_file():
        raise UserError(f"--prime {path}: no such file; give a MIDI file whose first bar opens the melody")
    parsed = parse_midi_file(str(path))
    if parsed.failed or not parsed.pieces:
        raise UserError(f"--prime {parsed.failed[0] if parsed.failed else f'{path}: no notes'}")
    bars = piece_to_bars(parsed.pieces[0], polyphonic).bars
    if not len(bars):
        raise UserError(f"--prime {path}: no bar with notes in 4/4, 2/2 or 2/4; give a MIDI file with a full bar")
    return bars[0]


@dataclass
class Phrases:
    bars: np.ndarray  # (n, 8, 16, 128) bool
    prev: np.ndarray | None  # (n, 8, 16, 128): the previous bar each bar was generated after (prev models)
    chord: np.ndarray | None  # (n, 8, 13): the chord each bar was generated over (chord models)


def _uses(gen: LoadedGenerator) -> tuple[bool, bool]:
    """(previous bar, chord): which conditions the checkpoint's generator takes."""
    return "prev" in gen.cfg.cond, "chord" in gen.cfg.cond


def check_conditions(gen: LoadedGenerator, chords: np.ndarray | None, prime: np.ndarray | None) -> None:
    uses_prev, uses_chord = _uses(gen)
    if chords is not None and not uses_chord:
        raise UserError(f"--chords: this checkpoint's generator was trained with cond={gen.cfg.cond} and takes no chord; "
                        "use a checkpoint trained with cond chord or prev+chord")
    if prime is not None and not uses_prev:
        raise UserError(f"--prime: this checkpoint's generator was trained with cond={gen.cfg.cond} and takes no "
                        "previous bar; use a checkpoint trained with cond prev or prev+chord")


@torch.no_grad()
def generate_phrases(gen: LoadedGenerator, n_phrases: int, seed: int = 0, chords: np.ndarray | None = None,
                     prime: np.ndarray | None = None) -> Phrases:
    """8-bar phrases. Conditional models take, by default, the chords of a real held-out 8-bar run and,
    bar by bar, their own previous output as the previous bar, the first one real; `chords` ((k, 13)
    labels, repeated over the 8 bars) and `prime` (a (16, 128) opening bar) replace them, MidiNet's way of
    writing a melody over given chords."""
    check_conditions(gen, chords, prime)
    g = torch.Generator().manual_seed(seed)
    data, method = gen.data, gen.method
    uses_prev, uses_chord = _uses(gen)
    heldout = data.heldout  # conditions the model never trained on
    starts = torch.tensor(_phrase_starts(heldout, n_phrases, g))
    as_t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32).to(data.device)  # noqa: E731
    prev, _ = data.conditions(starts, heldout=True)
    if prime is not None:
        prev = as_t(np.broadcast_to(prime, (n_phrases, 16, 128)))[:, None]
    monophonic = not heldout.config.polyphonic
    bars, prevs, used_chords = [], [], []
    for b in range(PHRASE_BARS):
        _, chord = data.conditions(torch.clamp(starts + b, max=len(heldout) - 1), heldout=True)
        if chords is not None:
            chord = as_t(np.broadcast_to(chords[b % len(chords)], (n_phrases, CHORD_DIM)))
        z = data.noise(n_phrases, method.z_dim, g)
        notes = decode_bars(method.sample(z, prev if uses_prev else None, chord if uses_chord else None)[:, 0].cpu().numpy(),
                            monophonic)  # (n, 16, 128)
        bars.append(notes)
        prevs.append(prev[:, 0].cpu().numpy() > 0.5 if prev is not None else None)
        used_chords.append(chord.cpu().numpy() if chord is not None else None)
        prev = torch.tensor(notes, dtype=torch.float32)[:, None].to(data.device) if prev is not None else None
    stack = lambda parts, use: np.stack(parts, axis=1) if use and parts[0] is not None else None  # noqa: E731
    return Phrases(np.stack(bars, axis=1).astype(bool), stack(prevs, uses_prev), stack(used_chords, uses_chord))


def written_adherence(gen: LoadedGenerator, phrases: Phrases, n: int) -> dict[str, float]:
    """The adherence metrics (mgen/metrics/adherence.py) of the first n bars written, to the conditions
    they were generated under, beside held-out real bars' to theirs; empty for an unconditional model."""
    if phrases.prev is None and phrases.chord is None:
        return {}
    flat = lambda a, *shape: None if a is None else a.reshape(-1, *shape)[:n]  # noqa: E731
    ref_idx = eval_conditions(gen.data, n)[0]  # the trial's evaluation reference: its `_real` values
    real_prev, real_chord = gen.data.heldout_conditions(ref_idx)
    return condition_metrics(flat(phrases.bars, 16, 128), (flat(phrases.prev, 16, 128), flat(phrases.chord, CHORD_DIM)),
                             gen.data.heldout.x[ref_idx.numpy()],
                             (real_prev if phrases.prev is not None else None,
                              real_chord if phrases.chord is not None else None))


@torch.no_grad()
def generate_points(gen: LoadedGenerator, n: int, seed: int = 0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return gen.method.sample(gen.data.noise(n, gen.method.z_dim, g), None, None).cpu().numpy()


def write_samples(checkpoint: str | Path, n: int, out: str | Path, seed: int = 0, wav: bool = False,
                  soundfont: str | None = None, chords: str | None = None, prime: str | Path | None = None) -> dict:
    """N bars (as 8-bar phrases) -> phrase_XX.mid, samples.png (and .wav), and the bars' adherence to their
    conditions; 2D sets -> samples.png scatter. chords: symbols ("C G Am F"); prime: a MIDI file whose
    first bar opens every phrase (both checked before anything is generated)."""
    labels = parse_chords(chords) if chords is not None else None
    gen = load_generator(checkpoint)
    if gen.data.is_points and (chords is not None or prime is not None):
        raise UserError("--chords and --prime are for bars; this checkpoint generates 2D points")
    opening = prime_bar(prime, gen.data.heldout.config.polyphonic) if prime is not None else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"step": gen.step, "config": gen.cfg.name, "files": [], "warning": gen.warning, "status": gen.status}
    if gen.data.is_points:
        pts = generate_points(gen, n, seed)
        np.savetxt(out / "samples.csv", pts, delimiter=",", header="x,y", comments="")
        save_points(pts, out / "samples.png", f"{gen.cfg.name} step {gen.step}", modes=gen.data.ds.modes,
                    reference=gen.data.ds.x[:2000])
        written["files"] += [str(out / "samples.csv"), str(out / "samples.png")]
        return written
    phrases = generate_phrases(gen, int(np.ceil(n / PHRASE_BARS)), seed, labels, opening)
    written["adherence"] = written_adherence(gen, phrases, n)
    flat = phrases.bars.reshape(-1, 16, 128)[:n]
    for i in range(len(phrases.bars)):
        bars = flat[i * PHRASE_BARS:(i + 1) * PHRASE_BARS]
        written["files"].append(str(write_midi(bars, out / f"phrase_{i:02d}.mid")))
        if wav:
            written["renderer"] = write_wav(bars, out / f"phrase_{i:02d}.wav", soundfont=soundfont)
            written["files"].append(str(out / f"phrase_{i:02d}.wav"))
    written["files"].append(str(save_piano_roll(flat, out / "samples.png", title=f"{gen.cfg.name} step {gen.step}")))
    return written


def adherence_line(m: dict, n: int) -> str:
    """How the written bars follow their conditions, each measure beside held-out real bars' value."""
    parts = []
    if "ctnctr" in m:
        parts.append(f"chord_adherence {m['chord_adherence']:.2f} (CTnCTR {m['ctnctr']:.2f}, real {m['ctnctr_real']:.2f})")
    if "bar_line_step" in m:
        parts.append(f"prev_adherence {m['prev_adherence']:.2f} (first note a step from the previous bar's last "
                     f"{m['bar_line_step']:.2f}, real {m['bar_line_step_real']:.2f}; copies of it "
                     f"{m['prev_copy_rate']:.2f}, real {m['prev_copy_rate_real']:.2f})")
    return (f"adherence of the {n} bars written (1 = as real bars follow theirs, 0 = ignored; noisy below a few "
            f"hundred bars): " + "; ".join(parts))


def print_written(written: dict, n: int, prog: str | None = None) -> None:
    """What write_samples did, as `mgen generate` and analysis/best_samples.py print it: the checkpoint's
    warning (on stderr), the adherence of a conditional model's bars, the audio renderer, the files."""
    import sys

    if written.get("warning"):
        print(f"{prog + ': ' if prog else ''}warning: {written['warning']}", file=sys.stderr)
    if written.get("adherence"):
        print(adherence_line(written["adherence"], n))
    if "renderer" in written:
        print(f"audio rendered with {written['renderer']}")
    for f in written["files"]:
        print(f"wrote {f}")
