"""What `--resume` unpickles, and when it refuses to.

Ray Tune's restore unpickles files from the study folder (tuner.pkl, the trials inside
experiment_state-*.json, searcher and error pickles), so whoever can write to the results folder can
run code as the person who resumes. Before resuming:

- local storage: every such file, the study folder and the storage root must belong to this user
  and not be writable by anyone else (a sticky folder such as /tmp excepted); else refuse.
- tuner.pkl's SHA-256 is recorded, outside the storage, when the study starts (in this user's state
  folder, mode 0600); a resume from the same account refuses a tuner.pkl that differs. A study
  started on another machine has no record there: a warning says so.
- remote storage (s3://, gs://): permissions cannot be checked from here; a warning says who must be
  able to write there.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from mgen.errors import UserError
from mgen.files import atomic_path

TUNER_PKL = "tuner.pkl"
UNPICKLED = ("tuner.pkl", "experiment_state-*.json", "searcher-state-*.pkl", "search_gen_state-*.json",
             "basic-variant-state-*.json", "*.pkl")  # in the study folder; trainable_*/error.pkl below it


def state_file() -> Path:
    root = os.environ.get("MGEN_STATE_DIR") or os.environ.get("XDG_STATE_HOME") or "~/.local/state"
    base = Path(root).expanduser()
    return (base if os.environ.get("MGEN_STATE_DIR") else base / "mgen") / "trusted_studies.json"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _records() -> dict:
    try:
        return json.loads(state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def record(study_dir: str | Path) -> None:
    """Remember tuner.pkl's digest for this study (called once its Tuner has written the file)."""
    study_dir = Path(study_dir).resolve()
    pkl = study_dir / TUNER_PKL
    if not pkl.exists():
        return
    records = _records()
    records[str(study_dir)] = _digest(pkl)
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_path(path) as tmp:  # a name of this call's own: two studies may record at once
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(records, f, indent=1)


def _unsafe(path: Path) -> str | None:
    st = path.stat()
    if st.st_uid != os.getuid():
        return f"{path} belongs to user id {st.st_uid}, not to you"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by {'others' if st.st_mode & stat.S_IWOTH else 'its group'}"
    return None


def pickled_files(study_dir: Path) -> list[Path]:
    files = {p for pattern in UNPICKLED for p in study_dir.glob(pattern) if p.is_file()}
    files |= {p for p in study_dir.glob("trainable_*/*.pkl") if p.is_file()}
    return sorted(files)


def check_resume(storage: str, study_path: str) -> list[str]:
    """Raise UserError if the study folder's pickles cannot be trusted; return warnings to print."""
    if "://" in storage:
        return [(f"--resume unpickles Tune's state from {study_path}: anyone who can write there can run code "
                 "as you; resume only from storage that only you (and your cluster) can write to")]
    study_dir, root = Path(study_path).resolve(), Path(storage).resolve()
    if not (study_dir / TUNER_PKL).is_file():
        raise UserError(f"--resume: no restorable study at {study_dir} (no {TUNER_PKL}); check --name and --storage")
    problems = []
    for folder in (study_dir, root):  # whoever can write the storage root can swap the study folder
        problem = _unsafe(folder)
        if problem and not (folder.stat().st_mode & stat.S_ISVTX):  # a sticky /tmp-like folder is fine
            problems.append(problem)
    problems += [p for p in map(_unsafe, pickled_files(study_dir)) if p]
    if problems:
        raise UserError(f"--resume refused: {problems[0]}; Tune's resume unpickles files there, so anyone who "
                        "can write them can run code as you (fix the permissions, e.g. chmod go-w, if you trust it)")
    recorded = _records().get(str(study_dir))
    pkl = study_dir / TUNER_PKL
    if recorded is None:
        return [f"{pkl} was not written by a study started from this account; resuming unpickles it"]
    if not pkl.exists() or _digest(pkl) != recorded:
        raise UserError(f"--resume refused: {pkl} changed since the study wrote it (its SHA-256 differs from "
                        f"the one recorded in {state_file()}); it may run code when unpickled. Start a new study")
    return []
