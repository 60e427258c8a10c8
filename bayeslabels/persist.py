"""Save a `Fit` as a directory and load it back, refusing anything altered.

Layout::

    spec.toml            the ModelSpec the fit was made with
    posterior.nc         the DataTree (posterior, sample_stats, and the EM start in group "em");
                         the posterior's deterministics are not stored but recomputed on load
                         from the free variables (`RECOMPUTED`)
    annotations.parquet  label rows as codes; code books, per-item subtype and gold in its metadata
    diagnostics.json     the check() report at save time (a loaded fit's `check()` returns it
                         when the same bayeslabels version wrote it)
    manifest.json        format, package version, method, sampling settings, data hash, sha256 of
                         every file above, and the sha256 of the manifest itself

A save serialises every file in memory first (the NetCDF too: h5py, writing to a full disk,
can crash the process instead of raising), checks the free space against their size, writes
them with plain `os.write` calls into a claimed temporary sibling (``.bl-<pid>-<hex>``, see
`bayeslabels._io`) and swaps it into place (one atomic exchange on Linux, else two renames), so a
reader sees the previous directory or the new one, never a half-written one, and a full disk is
an `OSError` that leaves the previous fit as it was. A killed save's temporary is removed by the
next save or load in that directory.

`read_fit` (behind `bayeslabels.load`) reads each file's bytes once through one handle on the
directory, checks them against the manifest read through the same handle (retrying when a
concurrent save swapped the directory meanwhile), verifies every manifest field, and parses
those same bytes: never a fit mixed from two saves.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import json
import os
import shutil
import sys
import tomllib
import warnings
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

from ._io import (
    claimed_temporary,
    directory_lock,
    fsync_path,
    json_safe,
    remove_dead_temporaries,
    unchanged,
    write_bytes_durably,
)
from ._version import __version__
from .aggregate import EMResult
from .choices import METHODS
from .data import Annotations, IngestSummary
from .errors import DataError, SpecError
from .spec import ModelSpec, SamplingInfo

if TYPE_CHECKING:
    from .diagnostics import ConvergenceReport
    from .fit import Fit

FORMAT_VERSION = 2  # 2: the manifest records its own sha256
MANIFEST = "manifest.json"
FILES = ("spec.toml", "posterior.nc", "annotations.parquet", "diagnostics.json")
_CODEBOOK_KEY = b"bayeslabels.annotations"


def _sampling_fields_ok(names: set[str]) -> bool:
    """Every field of `SamplingInfo` without a default, and nothing it does not know."""
    known = {f.name for f in fields(SamplingInfo)}
    required = {f.name for f in fields(SamplingInfo) if f.default is MISSING}
    return required <= names <= known


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- annotations


def _annotations_bytes(ann: Annotations) -> bytes:
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
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(metadata), sink)
    return bytes(sink.getvalue().to_pybytes())


def _read_annotations(data: bytes) -> Annotations:
    table = pq.read_table(pa.BufferReader(data))
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


RECOMPUTED = "bayeslabels_recomputed"
"""Attribute of the saved posterior group: the model's deterministics left out of the file
(those the free variables reproduce, checked at save), space-separated, recomputed on load by
`recompute_deterministics`. Per draw they are as large
as the free variables or larger (a hierarchical fit's confusion, offsets and population
matrices: 125 MB on rte at 4 × 2000 draws, 42 MB without them), and a function of them."""


def stored_deterministics(fit: Fit) -> list[str]:
    """The model's deterministics in the fit's posterior that its free variables reproduce:
    what the file leaves out. A posterior whose deterministics were changed on their own (a
    relabelled fit: `Fit.relabel` permutes ``confusion`` along ``true_class``, which MACE's
    θ and ξ cannot give back), or one without every free variable of the model (a one-coin EM
    fit holds its confusion matrices, not the model's accuracy), keeps them all in the file."""
    posterior = fit.posterior["posterior"].to_dataset()
    names = [var.name for var in fit.model.deterministics if var.name in posterior.data_vars]
    if not names or any(rv.name not in posterior.data_vars for rv in fit.model.free_RVs):
        return []  # e.g. one-coin EM: its confusion, but not the model's free accuracy
    computed = _computed_deterministics(posterior.drop_vars(names), fit.model, names)
    reproduced = all(
        np.allclose(computed[name].values, posterior[name].values, rtol=1e-9, atol=1e-12, equal_nan=True)
        for name in names
    )
    return names if reproduced else []


DETERMINISTICS_CHUNK = 2000
"""Draws per call of the vectorised deterministics function: bounds the temporaries (a
hierarchical fit's confusion of 825 annotators × 4 × 4 is 0.2 GB per 2000 draws)."""


DETERMINISTICS_MODES = ("JAX", "FAST_COMPILE")
"""How the vectorised deterministics are compiled, the first that compiles: JAX (about a second
to compile, XLA-fast to run) and PyTensor's FAST_COMPILE, which runs scalar ops without a NumPy
ufunc (the ordinal family's log1mexp, softplus) element by element in Python: 16,000 draws of
an 825-annotator ordinal fit took 8 minutes there, 20 s through JAX."""


def _batched_deterministics(model: Any, names: list[str]) -> tuple[Any, list[Any]]:
    """A compiled function from the free variables, each with a leading draw axis, to the
    deterministics ``names`` with that axis, and its symbolic outputs."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    batched = {
        rv: pt.tensor(name=rv.name, dtype=rv.dtype, shape=(None, *rv.type.shape)) for rv in model.free_RVs
    }
    outputs = vectorize_graph([model[name] for name in names], replace=batched)
    failure: Exception | None = None
    for mode in DETERMINISTICS_MODES:
        try:
            function = pytensor.function(list(batched.values()), outputs, on_unused_input="ignore", mode=mode)
        except (NotImplementedError, ImportError, TypeError, ValueError) as exc:  # no dispatch for an Op
            failure = exc
            continue
        return function, outputs
    raise NotImplementedError(f"no mode compiles the deterministics: {failure}")


def _computed_deterministics(free: xr.Dataset, model: Any, names: list[str]) -> xr.Dataset:
    """``names`` computed from the free variables for all draws at once: the model's graph of the
    deterministics vectorised over a leading draw axis (`pytensor.graph.vectorize_graph`),
    compiled once (`DETERMINISTICS_MODES`) and run on chunks of `DETERMINISTICS_CHUNK` draws
    (the last one padded, so one shape is compiled). ``pm.compute_deterministics`` calls a
    compiled function once per draw, which took minutes on a long fit of a large crowd; a graph
    that cannot be vectorised or compiled falls back to it."""
    import pymc as pm

    free_rvs = model.free_RVs
    try:
        function, outputs = _batched_deterministics(model, names)
    except (NotImplementedError, TypeError, ValueError):  # an Op without a batched form
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return pm.compute_deterministics(
                free.drop_attrs(deep=False),
                model=model,
                var_names=names,
                progressbar=False,
                compile_kwargs={"mode": "FAST_COMPILE"},
            )
    chains, draws = free.sizes["chain"], free.sizes["draw"]
    total = chains * draws
    width = min(total, DETERMINISTICS_CHUNK)
    inputs = [np.asarray(free[rv.name]).reshape(total, *free[rv.name].shape[2:]) for rv in free_rvs]
    pieces: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, total, width):
        size = min(width, total - start)
        chunk = [array[start : start + size] for array in inputs]
        if size < width:  # repeat the last draw: the compiled shape, sliced off below
            chunk = [np.concatenate([c, np.repeat(c[-1:], width - size, axis=0)]) for c in chunk]
        for piece, value, batched_out, name in zip(pieces, function(*chunk), outputs, names, strict=True):
            value = np.asarray(value)
            if batched_out.ndim == model[name].ndim:  # a function of the data alone: no draw axis
                value = np.broadcast_to(value, (width, *value.shape))
            piece.append(value[:size])
    dims = model.named_vars_to_dims
    data_vars = {}
    for name, piece in zip(names, pieces, strict=True):
        value = np.concatenate(piece).reshape(chains, draws, *piece[0].shape[1:])
        var_dims = dims.get(name) or tuple(f"{name}_dim_{i}" for i in range(value.ndim - 2))
        data_vars[name] = (("chain", "draw", *var_dims), value)
    coords = {"chain": free["chain"].values, "draw": free["draw"].values}
    used = {dim for _, (var_dims, _) in data_vars.items() for dim in var_dims}
    for dim in used:  # the posterior's own coordinate where it has one, else the model's
        if dim in free.coords:
            coords[dim] = free[dim].values
        elif model.coords.get(dim) is not None:
            coords[dim] = np.asarray(model.coords[dim])
    return xr.Dataset(data_vars, coords=coords)


def recompute_deterministics(posterior: xr.Dataset, model: Any) -> xr.Dataset:
    """The posterior with the deterministics named in its `RECOMPUTED` attribute computed from
    its free variables (`_computed_deterministics`): the sampled values up to rounding (≤ 1e-15)."""
    names = str(posterior.attrs.get(RECOMPUTED, "")).split()
    if not names:
        return posterior
    attrs = {key: value for key, value in posterior.attrs.items() if key != RECOMPUTED}
    return with_deterministics(posterior, model, names).drop_attrs(deep=False).assign_attrs(attrs)


def with_deterministics(posterior: xr.Dataset, model: Any, names: list[str]) -> xr.Dataset:
    """``posterior`` with the deterministics ``names`` computed from its free variables and
    merged in (`_computed_deterministics`); its attributes kept."""
    computed = _computed_deterministics(posterior, model, names)
    return xr.merge([posterior, computed], combine_attrs="override")


SAMPLER_BOOKKEEPING = (
    "step_size_bar",
    "mean_tree_accept_sym",
    "transformation_update_id",
    "transformation_index",
    "index_in_trajectory",
    "fisher_distance",
    "tuning",
)
"""nutpie's sample stats of its own adaptation (mass-matrix updates, the step-size average,
position in the trajectory), not diagnostics of the posterior: left out of the file. What
ArviZ and `Fit.check` read (diverging, energy, energy_error, logp, step_size, depth,
n_steps, maxdepth_reached, mean_tree_accept) is kept."""

COMPRESSION = {"zlib": True, "complevel": 1, "shuffle": True}
"""Every stored variable deflated (level 1, byte-shuffled): sample stats shrink by half (step
counts and flags repeat), draws by about 10 %, for under a second on a 40 MB posterior."""


def _tree_for_disk(fit: Fit) -> xr.DataTree:
    groups = {}
    recomputed = stored_deterministics(fit)
    for name, node in fit.posterior.children.items():
        if name == "log_likelihood":
            continue  # recomputed from the posterior on load (`Fit.log_likelihood`)
        dataset = node.to_dataset()
        if name == "posterior" and recomputed:
            dataset = dataset.drop_vars(recomputed).assign_attrs({RECOMPUTED: " ".join(recomputed)})
        if name == "sample_stats":
            dataset = dataset.drop_vars(SAMPLER_BOOKKEEPING, errors="ignore")
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


# --------------------------------------------------------------------------- save


def _serialise(fit: Fit) -> dict[str, bytes]:
    """Every file of the saved directory as bytes, the manifest last (it hashes the others)."""
    files = {
        "spec.toml": fit.spec.to_toml().encode("utf-8"),
        # in memory: h5py on a full disk may crash the process rather than raise
        "posterior.nc": _netcdf_bytes(_tree_for_disk(fit)),
        "annotations.parquet": _annotations_bytes(fit.annotations),
        "diagnostics.json": json.dumps(json_safe(fit.check().to_dict()), indent=2).encode(),
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "bayeslabels_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": fit.method,
        "used_gold": fit.used_gold,
        "sampling": asdict(fit.sampling) if fit.sampling else None,
        "data_hash": fit.annotations.data_hash,
        "files": {name: _sha256(data) for name, data in files.items()},
    }
    manifest = json_safe(manifest)
    manifest[_SELF_HASH] = _manifest_hash(manifest)
    files[MANIFEST] = json.dumps(manifest, indent=2).encode()
    return files


def _netcdf_bytes(tree: xr.DataTree) -> bytes:
    """The tree as NetCDF-4 bytes, every variable compressed (`COMPRESSION`)."""
    encoding = {
        node.path: {name: COMPRESSION for name in node.dataset.data_vars}
        for node in tree.subtree
        if node.has_data
    }
    return bytes(tree.to_netcdf(None, engine="h5netcdf", encoding=encoding))


def _manifest_hash(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's fields other than its own hash, in canonical JSON."""
    body = {key: value for key, value in manifest.items() if key != _SELF_HASH}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def _check_free_space(parent: Path, files: dict[str, bytes], directory: Path) -> None:
    """ENOSPC before anything is written when the files cannot fit (with a block per file)."""
    need = sum(len(data) + 4096 for data in files.values()) + 65536
    free = shutil.disk_usage(parent).free
    if free < need:
        raise OSError(
            errno.ENOSPC,
            f"No space left on device: cannot save the fit to {directory} (needs {need / 1e6:.1f} MB, "
            f"{free / 1e6:.1f} MB free); nothing was written (any previous version is unchanged)",
        )


def _existing_parent(path: Path) -> Path:
    """The nearest ancestor of ``path`` that exists."""
    for ancestor in path.absolute().parents:
        if ancestor.exists():
            return ancestor
    return Path(path.anchor or ".")


def save_fit(fit: Fit, directory: str | Path) -> Path:
    """Write ``fit`` to ``directory`` atomically (claimed temporary sibling, then one swap);
    missing parent directories are created. On any error the previous fit is unchanged."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise DataError(f"cannot save to {directory}: it is a file; choose a directory name")
    if directory.exists() and not (directory / MANIFEST).is_file() and any(directory.iterdir()):
        raise DataError(
            f"cannot save to {directory}: it exists and is not a saved fit; choose a new directory"
        )
    files = _serialise(fit)
    parent = directory.parent
    created: list[Path] = []
    try:
        _check_free_space(_existing_parent(directory), files, directory)
        for ancestor in reversed([directory.parent, *directory.parent.parents]):
            if not ancestor.exists():
                ancestor.mkdir()
                created.append(ancestor)
        remove_dead_temporaries(parent)
        with claimed_temporary(parent, directory=True) as tmp:
            for name, data in files.items():
                write_bytes_durably(tmp / name, data)
            fsync_path(tmp)
            _swap_into_place(tmp, directory)
        fsync_path(parent)
    except OSError as exc:
        for made in reversed(created):
            shutil.rmtree(made, ignore_errors=True)
        if exc.errno == errno.ENOSPC and "nothing was written" in str(exc):
            raise
        raise unchanged(exc, f"cannot save the fit to {directory}") from exc
    return directory


def _swap_into_place(tmp: Path, directory: Path) -> None:
    """Put the written ``tmp`` at ``directory``, the previous fit (if any) going away whole."""
    with directory_lock(directory.parent):
        if not directory.exists():
            os.replace(tmp, directory)
        elif _exchange(tmp, directory):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous fit
        else:  # two renames; the previous fit waits in a claimed temporary until the second lands
            with claimed_temporary(directory.parent, directory=True) as old:
                os.replace(directory, old / "fit")
                try:
                    os.replace(tmp, directory)
                except BaseException:
                    os.replace(old / "fit", directory)  # the previous fit goes back
                    raise


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


# --------------------------------------------------------------------------- manifest

# Every field of a manifest, with its type, and a check of its value (None: any value of the type).
_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "format_version": (int, "a whole number"),
    "bayeslabels_version": (str, "a version such as 0.1.0"),
    "created_at": (str, "an ISO date-time"),
    "method": (str, f"one of {list(METHODS)}"),
    "used_gold": (bool, "true or false"),
    "sampling": ((dict, type(None)), "the sampler settings or null"),
    "data_hash": (str, "the hash of the annotations"),
    "files": (dict, "the sha256 of every file"),
}
_SELF_HASH = "manifest_sha256"


def _field_problem(name: str, raw: Any) -> str | None:
    """What is wrong with one manifest field's value, or None."""
    kind, meaning = _FIELDS[name]
    if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
        return f"field {name!r} is {raw!r}, not {meaning}"
    value: Any = raw  # of its type now
    if name == "format_version" and not 1 <= value <= FORMAT_VERSION:
        return f"field 'format_version' is {value}: this bayeslabels reads formats 1 to {FORMAT_VERSION}" + (
            "; upgrade bayeslabels to load it" if value > FORMAT_VERSION else ""
        )
    if name == "bayeslabels_version":
        try:
            Version(str(value))
        except InvalidVersion:
            return f"field 'bayeslabels_version' is {value!r}, not {meaning}"
    if name == "created_at":
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return f"field 'created_at' is {value!r}, not {meaning}"
    if name == "method" and value not in METHODS:
        return f"field 'method' is {value!r}, not {meaning}"
    if name == "sampling" and value and not _sampling_fields_ok(set(value)):
        return "field 'sampling' does not hold the sampler settings"
    if name == "files" and (
        set(FILES) - set(value) or not all(isinstance(value[f], str) and len(value[f]) == 64 for f in FILES)
    ):
        return f"field 'files' does not record the sha256 of every file ({', '.join(FILES)})"
    return None


def _check_manifest(manifest: object, path: Path) -> None:
    """Every field `save_fit` writes, each of its type and value, nothing unknown, and (format 2)
    the manifest's own hash; one-line DataError naming the field otherwise."""
    problem = None
    if not isinstance(manifest, dict):
        problem = f"it holds a {type(manifest).__name__}, not an object"
    else:
        version = manifest.get("bayeslabels_version")
        if isinstance(version, str) and _newer(version):
            raise DataError(
                f"{path.parent} was saved by bayeslabels {version}, newer than the installed "
                f"{__version__}: upgrade bayeslabels to load it"
            )
        required = [*_FIELDS, *([_SELF_HASH] if manifest.get("format_version") != 1 else [])]
        missing = [name for name in required if name not in manifest]
        unknown = sorted(set(manifest) - set(_FIELDS) - {_SELF_HASH})
        if missing:
            problem = f"field {missing[0]!r} is missing"
        elif unknown:
            problem = f"unknown field {unknown[0]!r}"
        else:
            problem = next((p for name in _FIELDS if (p := _field_problem(name, manifest[name]))), None)
        if problem is None and _SELF_HASH in manifest and manifest[_SELF_HASH] != _manifest_hash(manifest):
            problem = "its fields do not match the manifest's recorded hash (edited or damaged)"
    if problem:
        raise DataError(f"{path}: {problem}; the saved fit is damaged: refit and save again")


def _newer(version: str) -> bool:
    try:
        return Version(version) > Version(__version__)
    except InvalidVersion:
        return False


# --------------------------------------------------------------------------- load

_SNAPSHOT_TRIES = 5


def _read_snapshot(directory: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the bytes of every file, all read through one handle on the directory and
    checked against that manifest. A directory swapped by a concurrent save meanwhile is read
    again; a missing or altered file is a DataError naming it."""
    for _ in range(_SNAPSHOT_TRIES):
        handle = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            try:
                raw = {MANIFEST: _read_at(handle, directory, MANIFEST)}
            except FileNotFoundError:
                if _swapped(directory, handle):
                    continue
                raise DataError(f"{directory}: missing {MANIFEST}; not a saved bayeslabels fit") from None
            manifest_path = directory / MANIFEST
            try:
                manifest = json.loads(raw[MANIFEST])
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise DataError(f"{manifest_path}: not valid JSON; the saved fit is damaged") from None
            _check_manifest(manifest, manifest_path)
            problem = None
            for name in FILES:
                try:
                    raw[name] = _read_at(handle, directory, name)
                except FileNotFoundError:
                    problem = f"missing {name}; the saved fit is incomplete, save it again"
                    break
                if _sha256(raw[name]) != manifest["files"][name]:
                    problem = (
                        f"{name} does not match its recorded hash (altered or damaged); refit and save again"
                    )
                    break
            if problem is None:
                return manifest, raw
            if not _swapped(directory, handle):
                raise DataError(f"{directory}: {problem}")
        finally:
            os.close(handle)
    raise DataError(
        f"{directory}: was replaced {_SNAPSHOT_TRIES} times while being read (another process keeps "
        "saving to it); load it again when that save is done"
    )


def _read_at(handle: int, directory: Path, name: str) -> bytes:
    """A file of the directory open as ``handle`` (by name where ``dir_fd`` is unsupported: the
    hashes then catch a swap between two reads, and the snapshot is read again)."""
    if os.open not in os.supports_dir_fd:
        return (directory / name).read_bytes()
    fd = os.open(name, os.O_RDONLY, dir_fd=handle)
    with os.fdopen(fd, "rb") as stream:
        return stream.read()


def _swapped(directory: Path, handle: int) -> bool:
    """Whether ``directory`` is no longer the directory ``handle`` was opened on."""
    try:
        return os.stat(directory).st_ino != os.fstat(handle).st_ino
    except FileNotFoundError:
        return True


def read_fit(directory: str | Path) -> dict[str, Any]:
    """The parts of a `Fit` from a directory written by `save_fit` (keyword arguments of
    ``Fit``, and ``report``: the saved check() report or None); refuses a directory whose files
    do not match their recorded hashes or whose manifest is incomplete or altered."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "is a file, not" if directory.exists() else "no such"
        raise DataError(
            f"{directory}: {what} saved-fit directory (written by Fit.save or 'bayeslabels fit --save')"
        )
    remove_dead_temporaries(directory.parent)
    manifest, raw = _read_snapshot(directory)
    name = "spec.toml"
    try:
        spec = ModelSpec.from_dict(tomllib.loads(raw[name].decode("utf-8")), source=str(directory / name))
    except (SpecError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{directory}: spec.toml: {exc}") from None
    try:  # the hashes matched, so only a file re-hashed by hand gets here damaged
        name = "annotations.parquet"
        ann = _read_annotations(raw[name])
        name = "posterior.nc"
        tree = xr.open_datatree(io.BytesIO(raw[name]), engine="h5netcdf").load()
        em = _em_from_tree(tree, ann, spec)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise DataError(
            f"{directory}: {name} cannot be read ({type(exc).__name__}); refit and save again"
        ) from None
    _check_consistency(directory, manifest, ann, tree)
    groups = {name: node.to_dataset() for name, node in tree.children.items() if name != "em"}
    for dataset in groups.values():  # coords come back as fixed-width unicode; make them str
        for coord in ("annotator", "true_class", "label_class"):
            if coord in dataset.coords:
                dataset.coords[coord] = dataset.coords[coord].values.astype(object)
    sampling = SamplingInfo(**manifest["sampling"]) if manifest["sampling"] else None
    return {
        "report": _saved_report(raw["diagnostics.json"], manifest),
        "posterior": xr.DataTree.from_dict(groups),
        "annotations": ann,
        "spec": spec,
        "method": manifest["method"],
        "em": em,
        "sampling": sampling,
        "used_gold": manifest["used_gold"],
    }


def _saved_report(data: bytes, manifest: dict[str, Any]) -> ConvergenceReport | None:
    """The check() report the save wrote (``diagnostics.json``, hash-checked with the rest), for
    the loaded fit to return instead of recomputing it (minutes on a long fit of a large crowd);
    None, so that it is recomputed, when another bayeslabels version wrote it or it does not
    parse."""
    from .diagnostics import ConvergenceReport

    if manifest.get("bayeslabels_version") != __version__:
        return None
    try:
        return ConvergenceReport.from_dict(json.loads(data))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _check_consistency(
    directory: Path, manifest: dict[str, Any], ann: Annotations, tree: xr.DataTree
) -> None:
    """The manifest's ``data_hash`` and ``method`` against the files themselves."""
    where = f"{directory / MANIFEST}"
    if ann.data_hash != manifest["data_hash"]:
        raise DataError(
            f"{where}: field 'data_hash' is {manifest['data_hash']!r} but the saved annotations hash "
            f"to {ann.data_hash!r}; the saved fit is damaged: refit and save again"
        )
    if "posterior" not in tree.children:
        raise DataError(f"{directory}: posterior.nc has no posterior group; refit and save again")
    posterior = tree["posterior"]
    sizes = posterior.sizes
    point = bool(posterior.attrs.get("point_estimate")) or sizes.get("chain", 1) * sizes.get("draw", 1) == 1
    if point != (manifest["method"] in ("em", "map")):
        raise DataError(
            f"{where}: field 'method' is {manifest['method']!r} but posterior.nc holds "
            f"{'a point estimate' if point else 'draws'}; the saved fit is damaged: refit and save again"
        )
