"""A study's storage, checked before any training: writable, enough free space, and summaries written
atomically (a full disk leaves the previous file, never a truncated one). Errors are one line."""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from mgen.errors import UserError
from mgen.files import atomic_path

MIN_FREE_MB_DEFAULT = 500  # measured: smoke studies wrote 53-530 MB here; full budgets keep every checkpoint, GBs
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.EIO}


def check_storage(storage: str, name: str, min_free_mb: float) -> None:
    """Write, read back and delete a probe file where the study will write; refuse a local folder with
    less than min_free_mb free. A UserError names the folder and the fix."""
    if "://" in storage:
        _check_remote(storage, name)
        return
    folder = Path(storage) / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".mgen-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"mgen storage probe\n")
        ok = probe.read_bytes() == b"mgen storage probe\n"
        probe.unlink()
    except OSError as exc:
        raise UserError(f"--storage {storage}: cannot write there ({os.strerror(exc.errno) if exc.errno else exc}); "
                        "choose a writable folder with --storage or $MGEN_RESULTS") from None
    if not ok:
        raise UserError(f"--storage {storage}: a file written there read back differently; choose another folder")
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < min_free_mb:
        raise UserError(f"--storage {storage}: {free_mb:.0f} MB free, below --min-free-mb {min_free_mb:g}; free "
                        "some space, choose another --storage, or lower --min-free-mb if the study is small")


def _check_remote(storage: str, name: str) -> None:
    import pyarrow.fs as pafs

    try:
        fs, root = pafs.FileSystem.from_uri(storage)
        probe = f"{root.rstrip('/')}/{name}/.mgen-probe-{uuid.uuid4().hex}"
        fs.create_dir(probe.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(probe) as f:
            f.write(b"mgen storage probe\n")
        fs.delete_file(probe)
    except Exception as exc:  # pyarrow raises OSError and its own types for every storage failure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--storage {storage}: cannot write there ({first}); check the URI and your credentials") from None


def write_atomic(path: str | Path, text: str) -> Path:
    """Write to a temporary file beside `path`, flush it to disk, then rename it over `path`; on any
    failure the old file (if any) is left as it was and the temporary file is removed."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return path


def storage_error(exc: BaseException) -> OSError | None:
    """The OSError of a full, read-only or forbidden storage somewhere in exc's cause chain, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def storage_exhausted(folder: str | Path | None) -> OSError | None:
    """An ENOSPC error for a local results folder with (almost) no space left, else None. Tune, reading
    back what it half-wrote to a full disk, fails with errors that name no errno (EOFError on an empty
    error.pkl); this turns them into the storage error they are."""
    if folder is None:
        return None
    try:
        if shutil.disk_usage(folder).free >= 2**20:
            return None
    except OSError:
        return None
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))


def trials_out_of_space(path: str) -> OSError | None:
    """ENOSPC for a local study whose errored trials failed for want of disk space (their error.txt say so),
    though the folder may have free space again (pruned checkpoints), else None."""
    if "://" in path:
        return None
    for error in Path(path).glob("*/error.txt"):
        try:
            if "No space left on device" in error.read_text(errors="replace"):
                return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        except OSError:
            continue
    return None


@contextmanager
def full_disk_named(folder: str | Path | None):
    """Re-raise an error from inside as the ENOSPC it is, when it names no storage errno but the local
    results folder is full."""
    try:
        yield
    except Exception as exc:
        full = None if storage_error(exc) else storage_exhausted(folder)
        if full is not None:
            raise full from exc
        raise

