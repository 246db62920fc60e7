"""From a checkpoint to music: 8-bar phrases generated bar by bar, written as MIDI, piano rolls and WAV."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mgen.data import BarDataset, load_dataset
from mgen.export import save_piano_roll, save_points, write_midi, write_wav
from mgen.metrics import decode_bars, health_status
from mgen.train.config import TrialConfig
from mgen.train.trial import TrialData, build_method, load_checkpoint, resolve_device

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


@torch.no_grad()
def generate_phrases(gen: LoadedGenerator, n_phrases: int, seed: int = 0) -> np.ndarray:
    """(n_phrases, 8, 16, 128) bars. Conditional models take real chords of a real 8-bar run and,
    bar by bar, their own previous output as the previous bar (the first previous bar is real)."""
    g = torch.Generator().manual_seed(seed)
    data, method = gen.data, gen.method
    heldout = data.heldout  # conditions the model never trained on
    starts = torch.tensor(_phrase_starts(heldout, n_phrases, g))
    prev, _ = data.conditions(starts, heldout=True)
    monophonic = not heldout.config.polyphonic
    bars = []
    for b in range(PHRASE_BARS):
        _, chord = data.conditions(torch.clamp(starts + b, max=len(heldout) - 1), heldout=True)
        z = data.noise(n_phrases, method.z_dim, g)
        notes = decode_bars(method.sample(z, prev, chord)[:, 0].cpu().numpy(), monophonic)  # (n, 16, 128)
        bars.append(notes)
        prev = torch.tensor(notes, dtype=torch.float32)[:, None].to(data.device) if prev is not None else None
    return np.stack(bars, axis=1).astype(bool)


@torch.no_grad()
def generate_points(gen: LoadedGenerator, n: int, seed: int = 0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return gen.method.sample(gen.data.noise(n, gen.method.z_dim, g), None, None).cpu().numpy()


def write_samples(checkpoint: str | Path, n: int, out: str | Path, seed: int = 0, wav: bool = False,
                  soundfont: str | None = None) -> dict:
    """N bars (as 8-bar phrases) -> phrase_XX.mid, samples.png (and .wav); 2D sets -> samples.png scatter."""
    gen = load_generator(checkpoint)
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
    phrases = generate_phrases(gen, int(np.ceil(n / PHRASE_BARS)), seed)
    flat = phrases.reshape(-1, 16, 128)[:n]
    for i in range(len(phrases)):
        bars = flat[i * PHRASE_BARS:(i + 1) * PHRASE_BARS]
        written["files"].append(str(write_midi(bars, out / f"phrase_{i:02d}.mid")))
        if wav:
            written["renderer"] = write_wav(bars, out / f"phrase_{i:02d}.wav", soundfont=soundfont)
            written["files"].append(str(out / f"phrase_{i:02d}.wav"))
    written["files"].append(str(save_piano_roll(flat, out / "samples.png", title=f"{gen.cfg.name} step {gen.step}")))
    return written
