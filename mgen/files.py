"""Files written whole or not at all, and the package versions a run records."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to, renamed over `path` when the block ends. The name is this
    call's own, so two processes writing the same file at once (two studies building one data set) each
    write their own, and the last rename wins with a whole file. If the block fails (a full disk), the
    temporary file is removed and `path` is left as it was. The name keeps `path`'s suffix (np.savez
    appends .npz to a name without it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def package_versions() -> dict[str, str]:
    """The versions a study ran with, for its report."""
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for package in ("mgen", "torch", "ray", "optuna", "wandb", "numpy"):
        try:
            out[package] = md.version(package)
        except md.PackageNotFoundError:
            out[package] = "not installed"
    return out
