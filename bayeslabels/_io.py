"""Atomic file writes: a temporary file in the target's directory, then `os.replace`.

A writer killed outright (SIGKILL, power loss) leaves its hidden temporary ``.<name>.*.tmp``
behind, never a partial target; the next successful write of the same target removes such
temporaries once they are `STALE_SECONDS` old (a live writer's temporary is younger).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

STALE_SECONDS = 3600.0


def _default_mode(path: Path) -> int:
    """The mode a plainly created file would get (mkstemp's 0600 is too private for an
    export a training job reads); an existing file keeps its own mode."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path``; on any error ``path`` is untouched.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) and
    is removed when ``write`` or the rename fails.
    """
    return atomic_write_many([(path, write)])[0]


def atomic_write_many(targets: Sequence[tuple[str | Path, Callable[[Path], object]]]) -> list[Path]:
    """Write every target to a temporary file first; rename them only when all succeeded."""
    temporaries: list[tuple[Path, Path]] = []
    path = Path()
    try:
        for target, write in targets:
            path = Path(target)
            if path.parent and not path.parent.exists():
                raise FileNotFoundError(f"{path.parent}: no such directory")
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
            os.close(handle)
            tmp = Path(name)
            temporaries.append((tmp, path))
            write(tmp)
            os.chmod(tmp, _default_mode(path))
            with open(tmp, "rb") as stream:
                os.fsync(stream.fileno())
        for tmp, path in temporaries:
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp, _ in temporaries:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):  # e.g. a full disk
            raise _unchanged(exc, f"cannot write {path}") from exc
        raise
    for _, path in temporaries:
        remove_stale_temporaries(path)
    return [path for _, path in temporaries]


def _unchanged(exc: OSError, what: str) -> OSError:
    """The error of a failed atomic write, naming the target rather than its temporary."""
    reason = exc.strerror or str(exc)
    return OSError(exc.errno, f"{reason}: {what}; nothing was written (any previous version is unchanged)")


def remove_stale_temporaries(path: str | Path, suffixes: Sequence[str] = (".tmp",)) -> list[Path]:
    """Remove the hidden temporaries ``.<name>.*<suffix>`` of ``path`` (files or directories)
    left by writers killed at least `STALE_SECONDS` ago; return what was removed."""
    path = Path(path)
    cutoff = time.time() - STALE_SECONDS
    removed = []
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        try:
            if stale.suffix not in suffixes or stale.lstat().st_mtime > cutoff:
                continue
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
        except OSError:  # gone already, or not ours to remove
            continue
        removed.append(stale)
    return removed


def json_safe(value: Any) -> Any:
    """JSON-safe copy: NumPy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
