"""A NUTS trace written to disk (`inference._trace_store`) does not outlive its run: a folder left
by a killed process is removed by the next run that writes a trace on the same machine."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import types

import pytest

import bayeslabels.inference as inference

pytestmark = pytest.mark.skipif(os.name != "posix", reason="processes are probed with POSIX signal 0")


def dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def folder(tmp_path, name: str):
    path = tmp_path / name
    path.mkdir()
    (path / "chunk").write_bytes(b"\0" * 64)
    return path


def test_only_the_folders_of_ended_processes_on_this_host_are_removed(tmp_path, caplog):
    gone = dead_pid()
    orphan = folder(tmp_path, f"{inference._trace_folder_prefix(gone)}abc")
    live = folder(tmp_path, f"{inference._trace_folder_prefix(os.getpid())}def")
    host = os.uname().nodename
    other_host = folder(tmp_path, f"{inference.TRACE_FOLDER_PREFIX}{host}-{gone}-{gone}-ghi")
    unnamed = folder(tmp_path, f"{inference.TRACE_FOLDER_PREFIX}jkl")
    a_file = tmp_path / f"{inference._trace_folder_prefix(gone)}file"
    a_file.write_text("not a trace folder")

    with caplog.at_level(logging.WARNING, logger="bayeslabels"):
        removed = inference.remove_orphaned_traces(str(tmp_path))

    assert removed == [str(orphan)]
    assert not orphan.exists()
    assert live.exists() and other_host.exists() and unnamed.exists() and a_file.exists()
    assert str(orphan) in caplog.text and "killed runs" in caplog.text
    assert inference.remove_orphaned_traces(str(tmp_path)) == []  # nothing left to remove


def large(values_per_draw: int = 10**9) -> types.SimpleNamespace:
    """A compiled model as `_trace_store` sees it: only its size matters."""
    return types.SimpleNamespace(n_expanded=values_per_draw)


def test_a_trace_on_disk_is_named_by_its_process_and_sweeps_orphans_first(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    orphan = folder(tmp_path, f"{inference._trace_folder_prefix(dead_pid())}abc")
    run = {"chains": 2, "tune": 10}
    with inference._trace_store(large(), run, draws=10) as store:
        assert "zarr_store" in store
        assert not orphan.exists()
        (own,) = tmp_path.iterdir()
        assert own.name.startswith(inference._trace_folder_prefix(os.getpid()))
    assert list(tmp_path.iterdir()) == []
    with inference._trace_store(large(values_per_draw=1), run, draws=10) as store:
        assert store == {}  # a small trace stays in memory


KILLED_RUN = """
import os, signal, sys, types
import bayeslabels.inference as inference
with inference._trace_store(types.SimpleNamespace(n_expanded=10**9), {"chains": 2, "tune": 10}, 10):
    print(os.listdir(sys.argv[1])[0], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_folder_of_a_killed_run_is_removed_by_the_next_one(tmp_path):
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path)],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = tmp_path / killed.stdout.strip()
    assert left.is_dir()  # the kill skipped the run's own clean-up

    assert inference.remove_orphaned_traces(str(tmp_path)) == [str(left)]
    assert list(tmp_path.iterdir()) == []
