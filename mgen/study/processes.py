"""Processes a study started, stopped by their ids (never `ray stop`, `pkill` or `killall`, which end other
people's Ray too).

A study that starts its own local Ray records the Ray processes it started (pid and start time) in
`<study>/ray_processes.json`. A driver killed with SIGKILL leaves them running; the next start or
--resume of that study stops those of them still alive (same pid and same start time: the very
processes, not a later one that reused the number) and their children (Ray's workers).
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from mgen.study.storage import write_atomic

RECORD = "ray_processes.json"


def terminate(find, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL, to the processes `find()` lists, each time waiting up to timeout / 2 for them to go."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in find():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + timeout / 2
        while find() and time.time() < deadline:
            time.sleep(0.2)


def record_ray(study_dir: Path) -> int:
    """Write the ids of this driver's child processes (its private Ray's head, started by ray.init)."""
    import psutil

    children = psutil.Process().children(recursive=True)
    rows = []
    for p in children:
        try:
            rows.append({"pid": p.pid, "started": p.create_time(), "name": p.name()})
        except psutil.Error:
            continue
    write_atomic(study_dir / RECORD, json.dumps({"driver": os.getpid(), "processes": rows}, indent=1))
    return len(rows)


def left_behind(study_dir: Path) -> list[int]:
    """The recorded Ray processes of an earlier driver of this study that still run, with their children."""
    import psutil

    path = study_dir / RECORD
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if saved.get("driver") == os.getpid() or psutil.pid_exists(saved.get("driver", -1)) and _same(saved, psutil):
        return []  # that driver still runs: its Ray is not left behind
    found = []
    for row in saved.get("processes", []):
        try:
            p = psutil.Process(row["pid"])
            if abs(p.create_time() - row["started"]) > 0.01 or p.status() == psutil.STATUS_ZOMBIE:
                continue  # the number was reused by another process, or it has ended (awaiting its parent)
            found += [p.pid] + [c.pid for c in p.children(recursive=True)]
        except psutil.Error:
            continue
    return sorted(set(found))


def _same(saved: dict, psutil) -> bool:
    """Is the recorded driver's pid still one of this study's drivers (a running study, not a reused number)?"""
    try:
        cmd = " ".join(psutil.Process(saved["driver"]).cmdline())
    except psutil.Error:
        return False
    return "studies/" in cmd or "mgen" in cmd


def stop_left_behind(study_dir: Path, timeout: float = 30.0) -> int:
    """Stop what `left_behind` finds; returns how many processes there were."""
    found = left_behind(study_dir)
    if found:
        ids = set(found)
        terminate(lambda: [pid for pid in ids if _alive(pid)], timeout)
    return len(found)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
