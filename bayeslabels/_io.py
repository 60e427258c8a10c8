"""Atomic writes: a claimed temporary in the target's directory, then `os.replace`.

Every temporary is named ``.bl-<pid>-<8 hex>`` (short, so that a legal 255-byte target name
never makes its temporary too long) and is held under an exclusive `fcntl.flock` by its writer
for as long as the writer lives. A writer killed outright (SIGKILL, power loss) leaves its
temporary behind, never a partial target; the next write, save or load in that directory takes
the lock of every such temporary it can (the kernel released the dead writer's) and removes it.
Renames that must land together (a CSV export and its provenance sidecar) are made under an
exclusive lock of the directory, so cooperating writers never interleave them.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:  # POSIX; elsewhere a temporary is only removed once it is STALE_SECONDS old
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

TEMP_PREFIX = ".bl-"
STALE_SECONDS = 3600.0


def _default_mode(path: Path) -> int:
    """The mode a plainly created file would get (mkstemp's 0600 is too private for an
    export a training job reads); an existing file keeps its own mode."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _try_lock(fd: int, shared: bool = False, wait: bool = False) -> bool:
    """Take a flock on ``fd``; False if another holder has it (and ``wait`` is False)."""
    if fcntl is None:
        return True
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, flags)
    except BlockingIOError:
        return False
    except OSError as exc:  # a file system without locks: go on unlocked
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            return True
        raise
    return True


@contextlib.contextmanager
def claimed_temporary(parent: str | Path, directory: bool = False) -> Iterator[Path]:
    """A new, empty file (or directory) ``parent/.bl-<pid>-<hex>``, locked for as long as the
    context lasts; removed on exit unless it was renamed away meanwhile."""
    parent = Path(parent)
    while True:
        path = parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            if directory:
                os.mkdir(path, 0o777)  # the umask applies, as for any new directory
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            else:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            if _try_lock(fd) and os.stat(path).st_ino == os.fstat(fd).st_ino:
                break  # ours; a cleaner that locked it first is removing it: take another name
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield path
    finally:
        try:
            if os.path.lexists(path) and os.lstat(path).st_ino == os.fstat(fd).st_ino:
                shutil.rmtree(path, ignore_errors=True) if directory else path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def remove_dead_temporaries(parent: str | Path) -> list[Path]:
    """Remove the ``.bl-*`` temporaries in ``parent`` whose writer is gone (their lock is free;
    without `fcntl`: those `STALE_SECONDS` old); return what was removed."""
    parent = Path(parent)
    removed = []
    own = f"{TEMP_PREFIX}{os.getpid()}-"
    for stale in parent.glob(f"{glob.escape(TEMP_PREFIX)}*"):
        if stale.name.startswith(own):  # this process's: alive (and POSIX locks do not exclude it)
            continue
        try:
            fd = os.open(stale, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            alive = not _try_lock(fd) or (
                fcntl is None and os.fstat(fd).st_mtime > time.time() - STALE_SECONDS
            )
            if alive or os.lstat(stale).st_ino != os.fstat(fd).st_ino:
                continue
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
            removed.append(stale)
        except OSError:  # gone already, or not ours to remove
            continue
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def directory_lock(directory: str | Path, shared: bool = False) -> Iterator[None]:
    """Hold a flock on ``directory``: exclusive while paired renames land, shared while a
    reader reads a pair. A directory that cannot be opened or locked is used unlocked."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield
        return
    try:
        _try_lock(fd, shared=shared, wait=True)
        yield
    finally:
        os.close(fd)


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a directory's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.EBADF) or os.path.isfile(path):
            raise
    finally:
        os.close(fd)


def write_bytes_durably(path: str | Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` with plain `os.write` calls and fsync: a full disk is an
    `OSError` (ENOSPC / EFBIG) here, never a crash in a library's writer."""
    view = memoryview(data)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_together(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Rename each temporary over its target, under an exclusive lock of the target's directory
    (every pair in one directory), then make the renames durable."""
    parents = sorted({target.parent for _, target in pairs})
    with contextlib.ExitStack() as stack:
        for parent in parents:
            stack.enter_context(directory_lock(parent))
        for tmp, target in pairs:
            os.replace(tmp, target)
    for parent in parents:
        fsync_path(parent)


def check_parent(path: Path) -> None:
    """FileNotFoundError naming the missing directory of ``path``."""
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"{path.parent}: no such directory", str(path))


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path``; on any error ``path`` is untouched.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) and
    is removed when ``write`` or the rename fails.
    """
    return atomic_write_many([(path, write)])[0]


def atomic_write_many(targets: Sequence[tuple[str | Path, Callable[[Path], object]]]) -> list[Path]:
    """Write every target to a temporary file first; rename them (together, see
    `replace_together`) only when all succeeded."""
    paths = [Path(target) for target, _ in targets]
    for path in paths:
        check_parent(path)
    for parent in {path.parent for path in paths}:
        remove_dead_temporaries(parent)
    path = paths[0] if paths else Path()
    try:
        with contextlib.ExitStack() as stack:
            pairs = []
            for path, (_, write) in zip(paths, targets, strict=True):
                tmp = stack.enter_context(claimed_temporary(path.parent))
                write(tmp)
                os.chmod(tmp, _default_mode(path))
                fsync_path(tmp)
                pairs.append((tmp, path))
            replace_together(pairs)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise unchanged(exc, f"cannot write {path}") from exc  # e.g. a full disk
    return paths


def unchanged(exc: OSError, what: str) -> OSError:
    """The error of a failed atomic write, naming the target rather than its temporary."""
    reason = exc.strerror or str(exc)
    return OSError(exc.errno, f"{reason}: {what}; nothing was written (any previous version is unchanged)")


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
