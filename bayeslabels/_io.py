"""Atomic file writes: a temporary file in the target's directory, then `os.replace`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path


def _default_mode(path: Path) -> int:
    """The mode a plainly created file would get (mkstemp's 0600 is too private for an
    export a training job reads); an existing file keeps its own mode."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path``; on any error ``path`` is untouched.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) and
    is removed when ``write`` or the rename fails.
    """
    return atomic_write_many([(path, write)])[0]


def atomic_write_many(targets: Sequence[tuple[str | Path, Callable[[Path], None]]]) -> list[Path]:
    """Write every target to a temporary file first; rename them only when all succeeded."""
    temporaries: list[tuple[Path, Path]] = []
    try:
        for path, write in targets:
            path = Path(path)
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
    except BaseException:
        for tmp, _ in temporaries:
            tmp.unlink(missing_ok=True)
        raise
    return [path for _, path in temporaries]
