"""The `mgen` command: `mgen data build|info`, `mgen metrics check|table`, `mgen train`, `mgen generate`."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from mgen.errors import UserError, run_cli


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from mgen.data import DATA_NAMES

    p.add_argument("name", help=f"data set: {', '.join(DATA_NAMES)}")
    p.add_argument("--key", default="C", choices=["C", "original"],
                   help="C: move each piece to C major / A minor (default); original: keep keys")
    p.add_argument("--augment", type=int, default=0, help="add transpositions by +-1..N semitones")
    p.add_argument("--polyphonic", action="store_true", help="all voices, not only the top voice")
    p.add_argument("--max-files", type=int, default=0, help="read only the first N source files")
    p.add_argument("--n-samples", type=int, default=10000, help="synthetic sets: number of examples")
    p.add_argument("--k-motifs", type=int, default=8, help="motifs: number of planted motifs")
    p.add_argument("--seed", type=int, default=0, help="synthetic sets: generation seed")
    p.add_argument("--refresh", action="store_true", help="rebuild even if cached")


def _data_config(args):
    from mgen.data import DataConfig

    return DataConfig(name=args.name, key=args.key, augment=args.augment, polyphonic=args.polyphonic,
                      max_files=args.max_files, n_samples=args.n_samples, k_motifs=args.k_motifs,
                      seed=args.seed)


def cmd_data(args) -> None:
    from mgen.data import load_dataset
    from mgen.export import save_piano_roll, write_midi

    start = time.perf_counter()
    ds = load_dataset(_data_config(args), refresh=args.refresh)
    summary = ds.summary()
    summary.pop("failed", None)
    summary["load_seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(summary, indent=2))
    for reason in ds.stats.get("failed", []):
        print(f"skipped: {reason}", file=sys.stderr)
    if args.action == "info" and not ds.is_points:
        out = Path(args.out)
        # Eight consecutive bars of one piece, so a listener hears the conversion in context.
        examples = ds.x[ds.piece == ds.piece[0]][:8]
        stem = args.name.replace(":", "_").replace("/", "_")
        midi = write_midi(examples, out / f"{stem}_examples.mid")
        png = save_piano_roll(examples, out / f"{stem}_examples.png", title=f"{args.name}: first bars")
        print(f"wrote {midi} and {png}")


def cmd_metrics_table(args) -> None:
    from mgen.metrics.registry import markdown_table

    print(markdown_table(), end="")


def cmd_metrics_check(args) -> None:
    """The metric sanity ladder (mgen/metrics/ladder.py): table, expected relations, exit 1 if one fails."""
    import warnings

    import pandas as pd

    from mgen.data import load_dataset
    from mgen.metrics.ladder import check_order, run_ladder

    ds = load_dataset(_data_config(args))
    if ds.is_points:
        raise UserError(f"{args.name} holds 2D points; the ladder is for bars (bach, celtic, motifs, midi:PATH...)")
    all_ok = True
    for n in args.n:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = run_ladder(ds, n)
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(f"\n{args.name}: {frame.attrs['n']} generated bars each, against {frame.attrs['reference']} "
                  f"reference bars\n{frame.round(3).to_string()}")
        for text, ok in check_order(frame, diverse=args.name != "motifs"):
            print(f"  {'ok  ' if ok else 'FAIL'}  {text}")
            all_ok &= bool(ok)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            frame.to_csv(out / f"ladder_{args.name.replace(':', '_').replace('/', '_')}_{n}.csv")
    print("\nexpected order " + ("holds" if all_ok else "DOES NOT HOLD"))
    if not all_ok:
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    from mgen import __version__

    parser.add_argument("--version", action="version", version=f"mgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build or inspect a data set")
    data_sub = data.add_subparsers(dest="action", required=True)
    for action, text in (("build", "build (or load from cache) and print sizes"),
                         ("info", "print sizes and write example bars as .mid and .png")):
        p = data_sub.add_parser(action, help=text)
        _add_data_args(p)
        if action == "info":
            p.add_argument("--out", default="out/data", help="folder for the example files")
        p.set_defaults(func=cmd_data)

    metrics = sub.add_parser("metrics", help="check the metrics on constructed generators")
    metrics_sub = metrics.add_subparsers(dest="action", required=True)
    check = metrics_sub.add_parser(
        "check", help="the sanity ladder: held-out bars, a memoriser, K repeated bars, hubs, noise, scored "
                      "by evaluate; prints the table and whether the expected order holds (exit 1 if not)")
    _add_data_args(check)
    check.add_argument("--n", type=int, nargs="+", default=[256, 1000], help="generated bars per generator")
    check.add_argument("--out", help="folder for the tables as CSV")
    check.set_defaults(func=cmd_metrics_check)
    table = metrics_sub.add_parser("table", help="every metric's range, direction, W&B name and meaning, as Markdown "
                                                 "(docs/metrics.md's reference table)")
    table.set_defaults(func=cmd_metrics_table)

    from mgen.train.cli import add_train_commands

    add_train_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_cli("mgen", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
