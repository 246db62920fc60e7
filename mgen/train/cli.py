"""`mgen train` (one trial, no Ray) and `mgen generate` (samples from a checkpoint)."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
from pathlib import Path

import yaml

from mgen.errors import UserError
from mgen.train.config import TrialConfig, read_yaml_mapping


def field_help() -> dict[str, str]:
    """Each config field's comment in config.py, so the dataclass stays the one source of help text."""
    source = inspect.getsource(TrialConfig)
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\w+): \w+ = [^#\n]+#\s*(.+)$", source, re.MULTILINE)}


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per TrialConfig field (default None: only flags given override the config file)."""
    helps = field_help()
    group = parser.add_argument_group("trial config (each overrides --config)")
    for f in dataclasses.fields(TrialConfig):
        kind = type(f.default)
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f"cfg_{f.name}", default=None, metavar=kind.__name__.upper(),
                           type=kind if kind is not bool else lambda s: s.lower() in ("1", "true", "yes"),
                           help=f"{helps.get(f.name, '')} (default: {f.default})")


def config_from_args(args, base: dict | None = None) -> TrialConfig:
    """The config of --config (a YAML/JSON file: a checkpoint's config.yaml, or a study trial's
    params.json, whose study-level words such as dg_ratio are expanded) with the flags given on top."""
    from mgen.train.params import expand

    values = {**(base or {}), **(expand(read_yaml_mapping(args.config)) if args.config else {})}
    values.update({k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_") and v is not None})
    return TrialConfig.from_dict(values)


def cmd_train(args) -> None:
    from mgen.data import load_dataset
    from mgen.export import save_piano_roll
    from mgen.train.trial import (
        check_checkpoint_matches,
        load_checkpoint,
        save_checkpoint,
        train,
    )

    out = Path(args.out)
    ckpt_path, log_path = out / "checkpoint.pt", out / "metrics.jsonl"
    resume = None
    if args.resume:
        resume = load_checkpoint(ckpt_path)
        cfg = config_from_args(args, base=resume["config"])
    else:
        cfg = config_from_args(args)
        if ckpt_path.exists():
            raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    cfg.validate()
    if resume is not None:  # refuse a changed config before anything in --out is touched
        check_checkpoint_matches(resume, cfg)
    ds = load_dataset(cfg.data_config())
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    kept = []
    if resume is not None and log_path.exists():  # drop reports made after the checkpoint
        kept = [line for line in log_path.read_text().splitlines()
                if line and json.loads(line)["step"] <= resume["step"]]
    log_path.write_text("".join(line + "\n" for line in kept))
    print(f"{cfg.name}: {len(ds)} examples, {cfg.steps} iterations, reports every {cfg.eval_every} -> {out}")
    for report in train(cfg, ds, resume=resume):
        m = report.metrics
        with log_path.open("a") as f:
            f.write(json.dumps({"step": report.step, **m}) + "\n")
        if report.checkpoint is not None:
            save_checkpoint(report.checkpoint, ckpt_path)
        if report.samples is not None and not ds.is_points:
            save_piano_roll(report.samples, out / "samples.png", title=f"{cfg.name} step {report.step}")
        shown = {k: m[k] for k in ("loss_d", "loss_g", "loss", "coverage", "precision", "diversity",
                                    "frechet_distance", "modes_captured", "music_overlap", "collapsed", "failed",
                                    "steps_per_sec") if k in m}
        print(f"step {report.step}: " + "  ".join(f"{k}={v:.4g}" for k, v in shown.items()), flush=True)
        if m.get("diverged"):
            saved = (f"last good checkpoint: {ckpt_path}" if ckpt_path.exists()
                     else "no checkpoint was saved before it (the first is written at the first report)")
            print(f"diverged at step {report.step} (NaN/Inf); {saved}")


def cmd_generate(args) -> None:
    from mgen.train.generate import print_written, write_samples

    if args.n < 1:
        raise UserError(f"--n {args.n} is invalid; give the number of bars to generate, 1 or more (e.g. --n 32)")

    if args.soundfont and not Path(args.soundfont).expanduser().is_file():
        raise UserError(f"--soundfont {args.soundfont}: no such file; give a General MIDI .sf2 file")
    written = write_samples(args.checkpoint, args.n, args.out, seed=args.seed, wav=args.wav, soundfont=args.soundfont,
                            chords=args.chords, prime=args.prime)
    print_written(written, args.n)


def add_train_commands(sub) -> None:
    p = sub.add_parser("train", help="run one trial (plain PyTorch, no Ray)",
                       description="Run one trial; writes checkpoint.pt, metrics.jsonl, config.yaml and samples.png to --out.")
    p.add_argument("--config", help="YAML file of config fields (flags override it)")
    p.add_argument("--out", default="out/train", help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)

    g = sub.add_parser("generate", help="generate samples from a checkpoint")
    g.add_argument("checkpoint", help="a checkpoint.pt written by mgen train or a study, or the folder holding it")
    g.add_argument("--n", type=int, default=32, help="bars to generate (in 8-bar phrases)")
    g.add_argument("--out", default="out/samples", help="output folder")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--chords", help='chord symbols, one a bar, repeated over each 8-bar phrase, e.g. "C G Am F" '
                                    "(chord-conditioned checkpoints; default: a held-out piece's chords)")
    g.add_argument("--prime", help="a MIDI file whose first bar is the previous bar of every phrase's first bar "
                                   "(previous-bar-conditioned checkpoints; default: a held-out bar)")
    g.add_argument("--wav", action="store_true", help="also render WAV audio (fluidsynth with a GM SoundFont when "
                                                          "installed: pip install 'mgen[audio]'; else sine waves, and it says why)")
    g.add_argument("--soundfont", help="a General MIDI .sf2 file for fluidsynth (default: $MGEN_SOUNDFONT or the system's)")
    g.set_defaults(func=cmd_generate)
