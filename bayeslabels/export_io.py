"""Exported tables on disk: the format by extension, atomic writes, and provenance bound to the file.

Formats: ``.parquet`` (``.pq``), ``.csv``, ``.tsv`` (tab-separated), ``.jsonl`` (``.ndjson``);
the text formats may end in ``.gz``, ``.bz2`` or ``.xz`` and are then compressed so.

Provenance goes into the Parquet schema metadata (key ``bayeslabels.provenance``), one file.
A text export gets a sidecar ``<file>.json`` holding the provenance and the export's
``file_sha256``: the two are renamed together under a lock of the directory (two exporters never
interleave), and `read_provenance` refuses a sidecar whose hash does not match its file (a writer
killed between the two renames, or a file replaced by hand), so a pair from two different
exports is never taken for one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._io import (
    _default_mode,
    check_parent,
    claimed_temporary,
    directory_lock,
    fsync_path,
    remove_dead_temporaries,
    replace_together,
    unchanged,
)
from .errors import DataError

if TYPE_CHECKING:
    import pandas as pd

PROVENANCE_KEY = b"bayeslabels.provenance"
SIDECAR_HASH_KEY = "file_sha256"
_KINDS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
EXPORT_EXTENSIONS = ".parquet, .csv, .tsv or .jsonl (text formats optionally .gz, .bz2 or .xz)"


@dataclass(frozen=True)
class ExportFormat:
    """How a path's extension says to write it: ``kind`` (parquet, csv, tsv, jsonl) and the
    ``compression`` of a text format (None, gzip, bz2, xz)."""

    kind: str
    compression: str | None = None

    @property
    def sidecar(self) -> bool:
        """Whether provenance goes into a sidecar (text formats) rather than the file."""
        return self.kind != "parquet"


def export_format(path: str | Path) -> ExportFormat:
    """The `ExportFormat` of ``path``; ValueError naming the extension and the choices otherwise."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = _COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    base = suffixes[-2] if compression and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    kind = None if compression and len(suffixes) < 2 else _KINDS.get(base)
    if kind is None or (kind == "parquet" and compression):
        seen = "".join(suffixes[-2:]) if compression else (suffixes[-1] if suffixes else "(no extension)")
        why = "; Parquet compresses itself" if kind == "parquet" else ""
        raise ValueError(f"{path}: cannot export to {seen}{why}; use {EXPORT_EXTENSIONS}")
    return ExportFormat(kind, compression)


def table_writer(frame: pd.DataFrame, path: str | Path) -> Callable[[Path], None]:
    """A function that writes ``frame`` to a temporary file in the format of ``path`` (for
    `bayeslabels._io.atomic_write_many`, which writes several files together)."""
    return _table_writer(frame, export_format(path), None)


def _table_writer(data: pd.DataFrame, fmt: ExportFormat, provenance: str | None) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        frame = _without_negative_zero(data)
        if fmt.kind == "parquet":
            _write_parquet(frame, tmp, provenance)
        elif fmt.kind == "jsonl":
            frame.to_json(tmp, orient="records", lines=True, double_precision=15, compression=fmt.compression)
        else:
            sep = "\t" if fmt.kind == "tsv" else ","
            frame.to_csv(tmp, index=False, sep=sep, compression=fmt.compression)

    return write


def _without_negative_zero(frame: pd.DataFrame) -> pd.DataFrame:
    """``-0.0`` (an entropy or a gain of a certain item, computed as a negated sum) as ``0.0``."""
    floats = frame.select_dtypes("floating").columns
    if len(floats) == 0:
        return frame
    return frame.assign(**{str(column): frame[column] + 0.0 for column in floats})


def _write_parquet(frame: pd.DataFrame, path: Path, provenance: str | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if provenance is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[PROVENANCE_KEY] = provenance.encode()
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path)


def sidecar_path(path: str | Path) -> Path:
    """The provenance sidecar of a text export: ``<file>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_table(frame: pd.DataFrame, path: str | Path, provenance: str | None = None) -> Path:
    """Write ``frame`` (no index) to ``path`` in the format its extension names, atomically, with
    ``provenance`` (JSON text of an object) in the Parquet metadata or a hash-bound sidecar; a
    text export without provenance removes a previous sidecar in the same step."""
    path = Path(path)
    fmt = export_format(path)
    record = None
    if provenance is not None and fmt.sidecar:
        record = json.loads(provenance)
        if not isinstance(record, dict):
            raise ValueError("provenance must be the JSON text of an object")
    check_parent(path)
    remove_dead_temporaries(path.parent)
    sidecar = sidecar_path(path)
    try:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(claimed_temporary(path.parent))
            _table_writer(frame, fmt, provenance)(tmp)
            os.chmod(tmp, _default_mode(path))
            fsync_path(tmp)
            pairs = [(tmp, path)]
            if record is not None:
                side = stack.enter_context(claimed_temporary(path.parent))
                side.write_text(json.dumps({**record, SIDECAR_HASH_KEY: _file_sha256(tmp)}, indent=2))
                os.chmod(side, _default_mode(sidecar))
                fsync_path(side)
                pairs.insert(0, (side, sidecar))
            if fmt.sidecar and record is None and sidecar.exists():
                with directory_lock(path.parent):  # the old sidecar goes with the old file
                    os.replace(tmp, path)
                    sidecar.unlink(missing_ok=True)
                fsync_path(path.parent)
            else:
                replace_together(pairs)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise unchanged(exc, f"cannot write {path}") from exc  # e.g. a full disk
    return path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def consistent_read(path: str | Path) -> Any:
    """Hold a shared lock of ``path``'s directory, so that an export and its sidecar read inside
    are not replaced by a cooperating writer halfway."""
    with directory_lock(Path(path).parent, shared=True):
        yield


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance written with a soft-label file (Parquet metadata or the JSON sidecar).

    Parameters
    ----------
    path : str or pathlib.Path
        A file written by `Fit.export` or `SoftLabels.write` with a provenance.

    Returns
    -------
    dict
        The provenance record (see `Fit.provenance`), as it was written (a sidecar's
        ``file_sha256`` is checked, not returned).

    Raises
    ------
    DataError
        If the file has no bayeslabels provenance (or its sidecar is missing), or the sidecar
        belongs to another version of the file (its ``file_sha256`` differs).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.read_provenance("soft_labels.parquet")["data_hash"]  # doctest: +SKIP
    """
    path = Path(path)
    fmt = export_format(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if not fmt.sidecar:
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata or {}
        if PROVENANCE_KEY not in metadata:
            raise DataError(f"{path}: no bayeslabels provenance in its metadata")
        return dict(json.loads(metadata[PROVENANCE_KEY]))
    sidecar = sidecar_path(path)
    with consistent_read(path):
        if not sidecar.exists():
            raise DataError(f"{path}: no provenance sidecar {sidecar.name}")
        try:
            record = json.loads(sidecar.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DataError(f"{sidecar}: not valid JSON; export again") from None
        recorded = record.get(SIDECAR_HASH_KEY) if isinstance(record, dict) else None
        if recorded is not None and recorded != _file_sha256(path):
            raise DataError(
                f"{sidecar.name} does not belong to {path} (the file's sha256 is not the one it records): "
                "an export was interrupted between the two files, or one was replaced; export again"
            )
    if not isinstance(record, dict):
        raise DataError(f"{sidecar}: holds a {type(record).__name__}, not a provenance record")
    record.pop(SIDECAR_HASH_KEY, None)  # binds the sidecar to its file; not part of the provenance
    return record
