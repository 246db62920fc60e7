"""Read W&B offline run files (`wandb/offline-run-*/run-*.wandb`) without a W&B server.

wandb 0.31 writes them from its Go core and ships no Python reader, so this decodes the format it
documents in wandb/sdk/internal's protobufs: a 7-byte header, then LevelDB-style log blocks of 32 KiB,
each record a 7-byte chunk header (CRC, length, type) and a `wandb_internal_pb2.Record`.
Used by analysis/wandb_panels.py and the tests that check what a study logged.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_BLOCK = 32768
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


def study_runs(study_dir: Path) -> list[OfflineRun]:
    """Every offline run a study wrote under `<study>/wandb`, oldest first."""
    return [read_run(p) for p in sorted(Path(study_dir).glob("wandb/offline-run-*/run-*.wandb"))]
