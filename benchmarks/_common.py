"""Helpers shared by models_sim.py, models_real.py and advi_scale.py (not a benchmark itself).

Each benchmark re-runs itself as ``python <script> --worker '<job JSON>'`` in a fresh
interpreter; the worker prints its measurements as JSON on its last stdout line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import IO

RESULTS = Path(__file__).parent / "results"
SHARED_NOTE = (
    "Timings were taken on a shared 2-core machine (other processes may have been running); "
    "treat them as rough, and compare only numbers from one run."
)


def peak_mib() -> float:
    """Peak resident set size of this process so far, MiB (``ru_maxrss``: KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Restart the peak RSS count from the current RSS (Linux ``/proc/self/clear_refs``)."""
    Path("/proc/self/clear_refs").write_text("5")


def machine_info() -> dict:
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1] for line in cpuinfo.read_text().splitlines() if "model name" in line]
    pkgs = ("bayeslabels", "pymc", "pytensor", "nutpie", "numba", "numpy", "arviz-stats")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": models[0].strip() if models else platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "bayeslabels_commit": package_commit(),
        **{pkg: version(pkg) for pkg in pkgs},
    }


def package_commit() -> str:
    """The checked-out commit, with ``+dirty`` when bayeslabels/ differs from it (read-only git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "bayeslabels"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_shipped_fit(directory: str, ann, model: str, use_gold: bool):
    """(fit, compile + sampling seconds) of a fit saved by ``bl.fit(ann, model=model,
    use_gold=use_gold)`` at the spec's shipped settings (``fit.save(directory)``): a fit too
    long to repeat in a benchmark run. Exits, saying why, when the directory holds another fit."""
    import bayeslabels as bl

    fit = bl.load(directory)
    shipped = bl.resolve_spec(model).inference
    sampling = fit.sampling
    if not (
        fit.spec.model == model
        and fit.used_gold == (use_gold and ann.has_gold)
        and list(fit.annotations.items) == list(ann.items)
        and sampling is not None
        and (sampling.chains, sampling.tune, sampling.target_accept)
        == (shipped.chains, shipped.tune, shipped.target_accept)
    ):
        raise SystemExit(f"{directory} is not a shipped-settings fit of {model} on these data")
    return fit, sampling.compile_seconds + sampling.sampling_seconds


def datasets_with_gold() -> list[str]:
    """The bundled data sets that have expert gold (the calibration benchmarks' default)."""
    import bayeslabels as bl

    return [name for name in bl.datasets.names() if bl.datasets.load(name).has_gold]


def machine_line(m: dict) -> str:
    return (
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · Python {m['python']} · pymc {m['pymc']} · "
        f"pytensor {m['pytensor']} · nutpie {m['nutpie']} · numpy {m['numpy']} · "
        f"load average at start {m['load_average_at_start'][0]:.2f} · "
        f"bayeslabels commit {m.get('bayeslabels_commit', '?')}"
    )


def per_variable(result, reduce) -> dict[str, float]:
    """min/max over the finite values of each variable of an arviz-stats result (DataTree or Dataset)."""
    import numpy as np

    nodes = [node.dataset for node in result.subtree] if hasattr(result, "subtree") else [result]
    out = {}
    for ds in nodes:
        for name in ds.data_vars:
            values = np.asarray(ds[name].values, dtype=float).ravel()
            values = values[np.isfinite(values)]
            if values.size:
                out[str(name)] = float(reduce(values))
    return out


def convergence(fit) -> dict:
    """Min bulk ESS and max R-hat over every posterior variable (and the variable where each is
    reached), divergences, and `Fit.check`'s verdict."""
    import arviz_stats as azs
    import numpy as np

    report = fit.check()
    stats = fit.posterior.children.get("sample_stats")
    ess = per_variable(azs.ess(fit.posterior, method="bulk"), np.min)
    rhat = per_variable(azs.rhat(fit.posterior), np.max)
    worst_ess, worst_rhat = min(ess, key=ess.get, default=None), max(rhat, key=rhat.get, default=None)
    return {
        "min_ess_bulk": ess[worst_ess] if worst_ess else float("nan"),
        "min_ess_bulk_variable": worst_ess,
        "max_rhat": rhat[worst_rhat] if worst_rhat else float("nan"),
        "max_rhat_variable": worst_rhat,
        "ess_bulk_by_variable": ess,
        "rhat_by_variable": rhat,
        "divergences": int(stats["diverging"].sum()) if stats is not None else None,
        "check_ok": bool(report.ok),
        "check_verdict": str(report.verdict),
        "check_max_rhat": _plain(getattr(report, "max_rhat", None)),
        "check_min_ess_bulk": _plain(getattr(report, "min_ess_bulk", None)),
        "check_warnings": list(report.warnings),
    }


def _plain(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


PROGRESS = "benchmark-progress: "
"""Prefix of a worker's stderr line carrying a JSON progress record (`report_progress`)."""


def report_progress(record: dict) -> None:
    """Tell `run_worker` how far the worker got: its last such record is kept when it times out."""
    print(PROGRESS + json.dumps(record, default=float), file=sys.stderr, flush=True)


def last_progress(stderr: str | bytes | None) -> dict | None:
    """The last `report_progress` record in a worker's stderr, if any."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr or ""
    records = [line[len(PROGRESS) :] for line in text.splitlines() if line.startswith(PROGRESS)]
    return json.loads(records[-1]) if records else None


def run_worker(script: str, job: dict, env: dict | None = None, timeout: float | None = None) -> dict:
    """Run ``script --worker job`` in a new interpreter; the result dict, or one with ``error``
    (on a timeout, with ``last_progress``: the worker's last `report_progress` record).

    Each progress record is echoed to this process's stdout as it arrives (a fit of hours says
    how far it is while it runs, not only when it ends)."""
    start = time.perf_counter()
    cmd = [sys.executable, script, "--worker", json.dumps(job)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout: list[str] = []
    stderr: list[str] = []

    def read(stream: IO[str], into: list[str], echo: bool) -> None:
        for line in stream:
            into.append(line)
            if echo and line.startswith(PROGRESS):
                print(f"  [{time.perf_counter() - start:6.0f} s] {line[len(PROGRESS) :].strip()}", flush=True)

    readers = [
        threading.Thread(target=read, args=(proc.stdout, stdout, False), daemon=True),
        threading.Thread(target=read, args=(proc.stderr, stderr, True), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        for reader in readers:
            reader.join(timeout=10)  # a grandchild may hold a pipe open: do not wait on it
        return {
            "error": f"timed out after {timeout:.0f} s",
            "process_seconds": time.perf_counter() - start,
            "last_progress": last_progress("".join(stderr)),
        }
    for reader in readers:
        reader.join()
    seconds = time.perf_counter() - start
    lines = "".join(stdout).strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "".join(stderr).strip().splitlines()[-15:]
        return {"error": f"exit {proc.returncode}", "traceback_tail": tail, "process_seconds": seconds}
    result = json.loads(lines[-1])
    result["process_seconds"] = seconds
    return result


def jobs_done(log: Path, keys: tuple[str, ...], resume: bool, retry_failed: bool = False) -> set[tuple]:
    """The jobs a run may skip: with ``resume``, the ``keys`` values of every row in the .jsonl
    ``log`` (with ``retry_failed``, not those whose row is an error or a timeout); without it,
    none, and the old ``log`` is removed (a fresh run)."""
    if not resume:
        log.unlink(missing_ok=True)
        return set()
    if not log.exists():
        return set()
    rows = map(json.loads, log.open())
    return {tuple(r[key] for key in keys) for r in rows if not (retry_failed and "error" in r)}


def record_row(log: Path, row: dict, keys: tuple[str, ...]) -> None:
    """Add ``row`` to the .jsonl ``log``, replacing an earlier row of the same ``keys`` values;
    written to a temporary file first, then moved over the old one."""
    job = tuple(row[key] for key in keys)
    old = list(map(json.loads, log.open())) if log.exists() else []
    rows = [r for r in old if tuple(r[key] for key in keys) != job]
    temporary = log.with_suffix(".jsonl.tmp")
    temporary.write_text("".join(json.dumps(r, default=float) + "\n" for r in [*rows, row]))
    temporary.replace(log)


def grid_arguments(parser: argparse.ArgumentParser, timeout: float = 1800.0) -> argparse.ArgumentParser:
    """``parser`` with the options every `run_jobs` benchmark takes: ``--timeout`` (seconds per
    fit), ``--resume``, ``--report-only`` and the hidden ``--worker``."""
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds per fit")
    parser.add_argument("--resume", action="store_true", help="keep the .jsonl, skip fits in it")
    parser.add_argument("--report-only", action="store_true", help="rebuild the tables from the .jsonl")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def run_jobs(
    script: str, log: Path, keys: tuple[str, ...], jobs: Iterable[dict], timeout: float, resume: bool
) -> None:
    """Run each of ``jobs`` that ``log`` does not hold yet (`jobs_done`) in its own worker
    process of ``script`` (`run_worker`), all sharing one fresh compile cache, and record each
    row as it ends (`record_row`): the loop of a benchmark over a grid of settings."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    done = jobs_done(log, keys, resume)
    cache = Path(tempfile.mkdtemp(prefix="bayeslabels-bench-cache-"))
    for job in jobs:
        key = tuple(job[name] for name in keys)
        if key in done:
            continue
        print(" / ".join(f"{name} {value}" for name, value in zip(keys, key, strict=True)), flush=True)
        result = run_worker(script, job, env=with_cache(cache), timeout=timeout)
        record_row(log, {**job, **result}, keys)


def rows_and_machine(name: str, log: Path, report_only: bool) -> tuple[list[dict], dict]:
    """The rows of the .jsonl ``log`` and the machine line of their report: this machine after a
    run, the one already in ``results/<name>.json`` when only rebuilding the tables."""
    rows = [json.loads(line) for line in log.open()] if log.exists() else []
    machine = machine_info()
    if report_only and (RESULTS / f"{name}.json").exists():
        machine = json.loads((RESULTS / f"{name}.json").read_text())["machine"]
    return rows, machine


def with_cache(cache: Path | None) -> dict:
    """Environment whose PyTensor/numba disk cache lives in ``cache`` (None: the user's own)."""
    env = dict(os.environ)
    if cache is not None:
        flags = [env.get("PYTENSOR_FLAGS"), f"base_compiledir={cache}"]
        env["PYTENSOR_FLAGS"] = ",".join(filter(None, flags))
        env["NUMBA_CACHE_DIR"] = str(cache / "numba-own")
    return env


def write(name: str, report: dict, table: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (RESULTS / f"{name}.md").write_text(table)
    print(table)


def fmt(value, spec: str = ".3f") -> str:
    return "—" if value is None or value != value else format(value, spec)
