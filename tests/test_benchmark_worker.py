"""The benchmarks run each fit in a worker process (`benchmarks/_common.run_worker`): its
progress is shown while it runs, and a worker past its time limit is stopped with its last
progress kept."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

# loaded from its file, so that the benchmarks' folder does not go on sys.path for other tests
_spec = importlib.util.spec_from_file_location(
    "benchmarks_common", Path(__file__).resolve().parents[1] / "benchmarks" / "_common.py"
)
assert _spec is not None and _spec.loader is not None
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)
PROGRESS, run_worker = _common.PROGRESS, _common.run_worker

WORKER = f"""
import json, sys, time
job = json.loads(sys.argv[2])
for n in (1, 2):
    print({PROGRESS!r} + json.dumps({{"round": n}}), file=sys.stderr, flush=True)
    print("a line of the fit's own log", file=sys.stderr, flush=True)
time.sleep(job["sleep"])
print(json.dumps({{"result": job["sleep"]}}))
"""


@pytest.fixture
def worker(tmp_path) -> str:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return str(script)


def test_a_worker_that_ends_gives_its_result_and_its_progress_is_shown_as_it_comes(worker, capsys):
    result = run_worker(worker, {"sleep": 0}, timeout=60)
    assert result["result"] == 0 and result["process_seconds"] > 0
    shown = capsys.readouterr().out.splitlines()
    assert [line.split("] ", 1)[1] for line in shown] == ['{"round": 1}', '{"round": 2}']


def test_a_worker_past_its_limit_is_stopped_and_its_last_progress_kept(worker):
    result = run_worker(worker, {"sleep": 600}, timeout=3)
    assert result["error"] == "timed out after 3 s"
    assert result["last_progress"] == {"round": 2}
    assert result["process_seconds"] < 60


def test_a_resumed_run_skips_the_jobs_in_its_log_and_a_retried_one_replaces_its_failures(tmp_path):
    log = tmp_path / "runs.jsonl"
    keys = ("data", "model")
    _common.record_row(log, {"data": "rte", "model": "ds", "ok": True}, keys)
    _common.record_row(log, {"data": "dog", "model": "ds", "error": "timed out after 9 s"}, keys)
    assert _common.jobs_done(log, keys, resume=True) == {("rte", "ds"), ("dog", "ds")}
    assert _common.jobs_done(log, keys, resume=True, retry_failed=True) == {("rte", "ds")}

    _common.record_row(log, {"data": "dog", "model": "ds", "ok": False}, keys)  # the retry's row
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows == [{"data": "rte", "model": "ds", "ok": True}, {"data": "dog", "model": "ds", "ok": False}]
    assert list(tmp_path.iterdir()) == [log]  # the temporary file was moved over the log

    assert _common.jobs_done(log, keys, resume=False) == set() and not log.exists()  # a fresh run


def test_a_grid_run_fits_only_the_jobs_its_log_lacks_and_records_each_row(worker, tmp_path, capsys):
    log = tmp_path / "grid.jsonl"
    keys = ("data", "sleep")
    _common.record_row(log, {"data": "rte", "sleep": 0, "result": "kept"}, keys)
    jobs = [{"data": "rte", "sleep": 0}, {"data": "dog", "sleep": 0}]
    _common.run_jobs(worker, log, keys, jobs, timeout=60, resume=True)
    rows = {row["data"]: row for row in map(json.loads, log.open())}
    assert rows["rte"]["result"] == "kept"  # in the log already: not fitted again
    assert rows["dog"]["result"] == 0 and rows["dog"]["process_seconds"] > 0
    assert "data dog / sleep 0" in capsys.readouterr().out
