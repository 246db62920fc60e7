"""Read W&B offline run files (`wandb/offline-run-*/run-*.wandb`) without a W&B server.

wandb 0.31 writes them from its Go core and ships no Python reader, so this decodes the format it
documents in wandb/sdk/internal's protobufs: a 7-byte header, then LevelDB-style log blocks of 32 KiB,
each record a 7-byte chunk header (CRC, length, type) and a `wandb_internal_pb2.Record`.
Used by analysis/wandb_panels.py, the tests that check what a study logged, and a study's end, which marks
the runs a killed trial or driver left without an end (`close_orphans`).
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_BLOCK = 32768
RUN_FILES = "wandb/offline-run-*/run-*.wandb"  # a study's offline run files, under its folder
_FULL, _LAST = 1, 4


def records(path: Path) -> Iterator:
    """The protobuf records of one offline run file, in the order they were written."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    pos, chunks = 7, b""
    while pos + 7 <= len(data):
        if _BLOCK - (pos % _BLOCK) < 7:  # block trailer padding
            pos += _BLOCK - (pos % _BLOCK)
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (_FULL, _LAST):
            record = pb.Record()
            try:
                record.ParseFromString(chunks)
            except DecodeError:  # a torn record at the end of a run that was killed
                pass
            else:
                yield record
            chunks = b""


def items(update) -> dict:
    """A history or summary record's items as {"group/key": value}."""
    return {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in update}


@dataclass
class OfflineRun:
    path: Path
    name: str
    job_type: str
    group: str
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def read_run(path: Path) -> OfflineRun:
    run, history, summary = None, [], {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run" and run is None:
            run = record.run
        elif kind == "history":
            history.append(items(record.history.item))
        elif kind == "summary":
            summary.update(items(record.summary.update))
    if run is None:
        raise ValueError(f"{path}: no run record (not a W&B offline run file?)")
    return OfflineRun(Path(path), run.display_name, run.job_type, run.run_group, history, summary)


def segments(study_dir: Path) -> dict[str, list[Path]]:
    """Each run id's offline run files under `<study>/wandb`, oldest first: a resumed trial's run has one
    segment per driver that logged it, and only the last one's end counts."""
    out: dict[str, list[Path]] = {}
    files = sorted(Path(study_dir).glob(RUN_FILES), key=lambda p: (p.parent.name, p.stat().st_mtime))
    for path in files:
        out.setdefault(path.stem[len("run-"):], []).append(path)
    return out


def has_exit(path: Path) -> bool:
    return any(r.WhichOneof("record_type") == "exit" for r in records(path))


def orphans(study_dir: Path) -> dict[str, Path]:
    """Run id -> its last segment, for the runs whose last segment has no exit record: a trial or driver was
    killed while it logged (W&B writes the exit record in `finish`), and `wandb sync` would leave it running."""
    return {run_id: files[-1] for run_id, files in segments(study_dir).items() if not has_exit(files[-1])}


def close_orphans(study_dir: Path, project: str) -> int:
    """End each orphaned run with a segment of its own that exits with code 1, so that it syncs as crashed,
    not running (wandb's own resume and finish: no hand-written records). Returns how many."""
    import wandb

    from mgen.metrics.registry import WANDB_QUIET

    closed = 0
    for run_id, last in orphans(study_dir).items():
        first = next((r.run for r in records(last) if r.WhichOneof("record_type") == "run"), None)
        try:  # W&B refuses an id "in use" when this process shares its wandb-core (WANDB_SERVICE) with the
            # killed one that logged it: the core keeps a killed client's run open for as long as it lives
            run = wandb.init(id=run_id, resume="allow", mode="offline", reinit="create_new", dir=str(study_dir),
                             project=first.project if first and first.project else project,
                             group=first.run_group if first else None, settings=wandb.Settings(**WANDB_QUIET))
        except Exception as exc:  # wandb's ServerResponseError: one line, and the other runs are still ended
            print(f"warning: W&B: offline run {run_id} left without an end could not be ended ({exc})")
            continue
        run.finish(exit_code=1)
        closed += 1
    return closed


def study_runs(study_dir: Path) -> list[OfflineRun]:
    """Every offline run a study wrote under `<study>/wandb`, oldest first."""
    return [read_run(p) for p in sorted(Path(study_dir).glob(RUN_FILES))]
