"""Save a `Fit` as a directory and load it back, refusing anything altered.

Layout::

    spec.toml            the ModelSpec the fit was made with
    posterior.nc         the DataTree (posterior, sample_stats, and the EM start in group "em")
    annotations.parquet  label rows as codes; code books, per-item subtype and gold in its metadata
    diagnostics.json     the check() report at save time
    manifest.json        package version, method, sampling settings, sha256 of every file above

The directory is written to a temporary sibling and swapped into place (one atomic exchange on
Linux, else two renames), so a reader sees the previous directory or the new one, never a
half-written one; a killed save leaves only hidden ``.<name>.*.tmp`` siblings, which a later
save removes once they are an hour old. `read_fit` (behind `bayeslabels.load`) recomputes every hash
and refuses a mismatch (naming the file) or a fit saved by a newer bayeslabels.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import MISSING, asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr
from packaging.version import InvalidVersion, Version

from ._io import _unchanged, json_safe, remove_stale_temporaries
from ._version import __version__
from .aggregate import EMResult
from .data import Annotations, IngestSummary
from .errors import DataError, SpecError
from .spec import ModelSpec, SamplingInfo

if TYPE_CHECKING:
    from .fit import Fit

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FILES = ("spec.toml", "posterior.nc", "annotations.parquet", "diagnostics.json")
_CODEBOOK_KEY = b"bayeslabels.annotations"


def _sampling_fields_ok(names: set[str]) -> bool:
    """Every field of `SamplingInfo` without a default, and nothing it does not know."""
    known = {f.name for f in fields(SamplingInfo)}
    required = {f.name for f in fields(SamplingInfo) if f.default is MISSING}
    return required <= names <= known


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- annotations


def _write_annotations(ann: Annotations, path: Path) -> None:
    columns = {"item_idx": ann.item_idx, "annotator_idx": ann.annotator_idx, "label": ann.label}
    if ann.timestamp is not None:
        columns["timestamp"] = ann.timestamp
    table = pa.table(columns)
    codebook = {
        "items": list(map(str, ann.items)),
        "annotators": list(map(str, ann.annotators)),
        "classes": list(map(str, ann.classes)),
        "ordered": bool(ann.ordered),
        "subtypes": list(map(str, ann.subtypes)),
        "subtype": ann.subtype.tolist(),
        "gold": ann.gold.tolist(),
        "summary": asdict(ann.summary) if ann.summary else None,
    }
    metadata = {_CODEBOOK_KEY: json.dumps(codebook).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), path)


def _read_annotations(path: Path) -> Annotations:
    table = pq.read_table(path)
    codebook = json.loads(table.schema.metadata[_CODEBOOK_KEY])
    frame = table.to_pandas()
    timestamp = frame["timestamp"].to_numpy(dtype="datetime64[ns]") if "timestamp" in frame else None
    summary = IngestSummary(**codebook["summary"]) if codebook.get("summary") else None
    return Annotations(
        items=pd.Index(codebook["items"], dtype=object),
        annotators=pd.Index(codebook["annotators"], dtype=object),
        classes=pd.Index(codebook["classes"], dtype=object),
        item_idx=frame["item_idx"].to_numpy(),
        annotator_idx=frame["annotator_idx"].to_numpy(),
        label=frame["label"].to_numpy(),
        gold=np.asarray(codebook["gold"], dtype=np.int64),
        subtypes=pd.Index(codebook["subtypes"], dtype=object),
        subtype=np.asarray(codebook["subtype"], dtype=np.int64),
        timestamp=timestamp,
        summary=summary,
        ordered=bool(codebook.get("ordered", False)),
    )


# --------------------------------------------------------------------------- posterior


def _tree_for_disk(fit: Fit) -> xr.DataTree:
    groups = {}
    for name, node in fit.posterior.children.items():
        if name == "log_likelihood":
            continue  # recomputed from the posterior on load (`Fit.log_likelihood`)
        dataset = node.to_dataset()
        # nutpie's free-text divergence messages (object dtype) do not belong in a numeric file
        dataset = dataset.drop_vars([v for v, a in dataset.data_vars.items() if a.dtype == object])
        groups[name] = dataset
    if fit.em is not None:
        em = fit.em
        groups["em"] = xr.Dataset(
            {
                "confusion": (("annotator", "true_class", "label_class"), em.confusion),
                "prevalence": (("true_class",), em.prevalence),
                "posterior": (("item", "true_class"), em.posterior),
                "log_posterior": (("iteration",), em.log_posterior),
            },
            coords={
                "annotator": list(map(str, em.annotators)),
                "true_class": list(map(str, em.classes)),
                "label_class": list(map(str, em.classes)),
                "item": list(map(str, em.items)),
            },
            attrs={"variant": em.variant, "converged": int(em.converged), "n_iter": em.n_iter},
        )
    return xr.DataTree.from_dict(groups)


def _em_from_tree(tree: xr.DataTree, ann: Annotations, spec: ModelSpec) -> EMResult | None:
    if "em" not in tree.children:
        return None
    em = tree["em"].to_dataset()
    return EMResult(
        confusion=em["confusion"].values,
        prevalence=em["prevalence"].values,
        posterior=em["posterior"].values,
        # fits saved before 0.2 called the trace "log_likelihood"
        log_posterior=em["log_posterior" if "log_posterior" in em else "log_likelihood"].values,
        converged=bool(em.attrs["converged"]),
        n_iter=int(em.attrs["n_iter"]),
        variant=str(em.attrs["variant"]),
        classes=ann.classes,
        items=ann.items,
        annotators=ann.annotators,
        priors=spec.em_priors,
        n_labels=ann.labels_per_item,
    )


# --------------------------------------------------------------------------- save / load


def save_fit(fit: Fit, directory: str | Path) -> Path:
    """Write ``fit`` to ``directory`` atomically (temporary sibling, then rename)."""
    directory = Path(directory)
    parent = directory.parent
    if not parent.is_dir():
        raise DataError(f"cannot save to {directory}: directory {parent} does not exist")
    if directory.exists() and not (directory / MANIFEST).is_file() and any(directory.iterdir()):
        raise DataError(
            f"cannot save to {directory}: it exists and is not a saved fit; choose a new directory"
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the fit from its readers
    try:
        (tmp / "spec.toml").write_text(fit.spec.to_toml(), encoding="utf-8")
        _tree_for_disk(fit).to_netcdf(tmp / "posterior.nc", engine="h5netcdf")
        _write_annotations(fit.annotations, tmp / "annotations.parquet")
        report = fit.check()
        (tmp / "diagnostics.json").write_text(json.dumps(json_safe(report.to_dict()), indent=2))
        manifest = {
            "format_version": FORMAT_VERSION,
            "bayeslabels_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "method": fit.method,
            "used_gold": fit.used_gold,
            "sampling": asdict(fit.sampling) if fit.sampling else None,
            "data_hash": fit.annotations.data_hash,
            "files": {name: _sha256(tmp / name) for name in FILES},
        }
        (tmp / MANIFEST).write_text(json.dumps(json_safe(manifest), indent=2))
        for name in (*FILES, MANIFEST):
            with open(tmp / name, "rb") as stream:
                os.fsync(stream.fileno())
        if directory.exists() and _exchange(tmp, directory):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous fit
        elif directory.exists():  # two renames: a kill between them leaves the fit in .<name>.*.old
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".old", dir=parent))
            os.replace(directory, old / "fit")
            try:
                os.replace(tmp, directory)
            except BaseException:
                os.replace(old / "fit", directory)  # the previous fit goes back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # e.g. a full disk
            raise _unchanged(exc, f"cannot save the fit to {directory}") from exc
        raise
    remove_stale_temporaries(directory, (".tmp", ".old"))
    return directory


def _exchange(new: Path, current: Path) -> bool:
    """Swap two directories in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``), so that a
    reader, or a kill at any moment, sees the previous fit or the new one. False where the system
    or the file system cannot; the caller then falls back to two renames."""
    if sys.platform != "linux":
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(current), rename_exchange) == 0


def _check_manifest(manifest: object, path: Path) -> None:
    """The fields `read_fit` reads, with the types `save_fit` writes; DataError otherwise."""
    problem = None
    if not isinstance(manifest, dict):
        problem = f"it holds a {type(manifest).__name__}, not an object"
    elif not isinstance(manifest.get("files"), dict) or set(FILES) - set(manifest["files"]):
        problem = f"it does not record the hash of every file ({', '.join(FILES)})"
    elif not isinstance(manifest.get("method"), str) or not isinstance(manifest.get("used_gold"), bool):
        problem = "'method' or 'used_gold' is missing"
    elif not isinstance(manifest.get("sampling"), dict | None) or (
        manifest["sampling"] and not _sampling_fields_ok(set(manifest["sampling"]))
    ):
        problem = "'sampling' does not hold the sampler settings"
    else:
        try:
            Version(str(manifest.get("bayeslabels_version", "0")))
        except InvalidVersion:
            problem = f"'bayeslabels_version' is {manifest['bayeslabels_version']!r}, not a version"
    if problem:
        raise DataError(f"{path}: {problem}; the saved fit is damaged: refit and save again")


def read_fit(directory: str | Path) -> dict[str, Any]:
    """The parts of a `Fit` from a directory written by `save_fit` (keyword arguments of
    ``Fit``); refuses a directory whose files do not match their recorded hashes."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "is a file, not" if directory.exists() else "no such"
        raise DataError(f"{directory}: {what} saved-fit directory (written by Fit.save or 'fit --save')")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{directory}: missing {MANIFEST}; not a saved bayeslabels fit")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{manifest_path}: not valid JSON; the saved fit is damaged") from None
    _check_manifest(manifest, manifest_path)
    saved_version = str(manifest.get("bayeslabels_version", "0"))
    if Version(saved_version) > Version(__version__):
        raise DataError(
            f"{directory} was saved by bayeslabels {saved_version}, newer than the installed "
            f"{__version__}: upgrade bayeslabels to load it"
        )
    expected = manifest.get("files", {})
    for name in FILES:
        path = directory / name
        if not path.is_file():
            raise DataError(f"{directory}: missing {name}; the saved fit is incomplete, save it again")
        if _sha256(path) != expected.get(name):
            raise DataError(
                f"{directory}: {name} does not match its recorded hash (altered or damaged); "
                "refit and save again"
            )
    try:
        spec = ModelSpec.from_toml(directory / "spec.toml")
    except SpecError as exc:
        raise DataError(f"{directory}: spec.toml: {exc}") from None
    name = "annotations.parquet"
    try:  # the hashes matched, so only a file re-hashed by hand gets here damaged
        ann = _read_annotations(directory / name)
        name = "posterior.nc"
        tree = xr.open_datatree(directory / name, engine="h5netcdf").load()
        em = _em_from_tree(tree, ann, spec)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{directory}: {name} cannot be read ({type(exc).__name__}); refit and save again"
        ) from None
    groups = {name: node.to_dataset() for name, node in tree.children.items() if name != "em"}
    for dataset in groups.values():  # coords come back as fixed-width unicode; make them str
        for coord in ("annotator", "true_class", "label_class"):
            if coord in dataset.coords:
                dataset.coords[coord] = dataset.coords[coord].values.astype(object)
    sampling = SamplingInfo(**manifest["sampling"]) if manifest.get("sampling") else None
    return {
        "posterior": xr.DataTree.from_dict(groups),
        "annotations": ann,
        "spec": spec,
        "method": manifest["method"],
        "em": em,
        "sampling": sampling,
        "used_gold": bool(manifest["used_gold"]),
    }
