"""Faults: a writer killed outright, a disk that fills up. Nothing is ever half-written.

Kill tests: a subprocess loads a saved EM fit and exports it (`Fit.export`, what
``bayeslabels export`` runs) or saves it (`Fit.save`) in a loop until it is sent SIGKILL
after a random (seeded) delay. Afterwards the target is either a complete version - the Parquet file
reads back with every item and its provenance, the directory loads with every hash checked -
or, where no previous version existed, absent; never partial. A killed writer may leave its
hidden temporary (``.<name>.*.tmp``) and nothing else; a later write removes temporaries that
are `bayeslabels._io.STALE_SECONDS` old.

Disk full: the writer is patched to write part of its file and then raise ENOSPC: the error is
clear (one line from the command), the previous file or fit is untouched, no temporary remains.
"""

from __future__ import annotations

import errno
import importlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import bayeslabels as bl
from bayeslabels import _io
from bayeslabels.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
KILLS_PER_KIND = 12  # export and save: 24 kills in all
SEED = 20260110

# One process imports bayeslabels once (~3 s) and forks a writer per kill: each writer loads the
# saved fit, says its pid, and exports or saves until it is killed; the server then says "done".
SERVER = """
import os, sys
import bayeslabels as bl
print("ready", flush=True)
for line in sys.stdin:
    kind, fit_dir, target = line.rstrip("\\n").split("\\t")
    pid = os.fork()
    if pid == 0:
        try:
            fit = bl.load(fit_dir)
            print(os.getpid(), flush=True)
            while True:
                fit.export(target) if kind == "export" else fit.save(target)
        finally:
            os._exit(1)
    print("done", os.waitpid(pid, 0)[1], flush=True)
"""


@pytest.fixture(scope="module")
def em_saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[bl.Fit, Path]:
    """An EM fit of 2000 simulated items (exports ~0.2 MB in ~40 ms, saves in ~0.2 s), saved."""
    sim = bl.simulate.dawid_skene(n_items=2000, n_annotators=20, n_classes=3, labels_per_item=(3, 5), seed=1)
    fit = bl.fit(sim.annotations, method="em")
    return fit, fit.save(tmp_path_factory.mktemp("em") / "fit")


def _state(kind: str, target: Path, items: list[str]) -> str:
    """'absent' or 'complete'; anything partial fails the test."""
    if not target.exists():
        return "absent"
    if kind == "export":
        soft = pd.read_parquet(target)
        assert soft["item"].tolist() == items
        assert bl.read_provenance(target)["n_items"] == len(items)
    else:
        loaded = bl.load(target)  # checks every file against its recorded hash
        assert loaded.soft_labels().to_frame()["item"].tolist() == items
    return "complete"


def _leftovers(target: Path) -> list[str]:
    """Everything beside the target: only its hidden temporaries are allowed."""
    names = sorted(p.name for p in target.parent.iterdir() if p.name != target.name)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[^/]+\.tmp")
    assert all(pattern.fullmatch(name) for name in names), names
    return names


def test_kill_9_during_export_and_save_leaves_a_complete_version_or_none(em_saved, tmp_path):
    fit, fit_dir = em_saved
    items = list(fit.annotations.items)
    rng = random.Random(SEED)
    outcomes: dict[str, list[str]] = {"export": [], "save": []}
    temporaries = {"export": 0, "save": 0}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        for run in range(2 * KILLS_PER_KIND):
            kind = ("export", "save")[run % 2]
            folder = tmp_path / f"{run:02d}-{kind}"
            folder.mkdir()
            target = folder / ("soft.parquet" if kind == "export" else "fit")
            previous = run % 4 < 2  # half the runs start with a version in place: it must survive
            if previous:
                fit.export(target) if kind == "export" else fit.save(target)
            server.stdin.write(f"{kind}\t{fit_dir}\t{target}\n")
            server.stdin.flush()
            pid = int(server.stdout.readline())
            time.sleep(rng.uniform(0.0, 0.5))
            os.kill(pid, signal.SIGKILL)
            assert server.stdout.readline().split() == ["done", str(signal.SIGKILL)]
            state = _state(kind, target, items)
            assert state == "complete" or not previous, f"{kind}: the previous version was lost"
            outcomes[kind].append(state)
            temporaries[kind] += bool(_leftovers(target))
    finally:
        server.kill()
        server.communicate()
    summary = {
        kind: {s: states.count(s) for s in ("complete", "absent")} for kind, states in outcomes.items()
    }
    print(f"kill -9 outcomes: {summary}; kills that left a hidden temporary: {temporaries}")
    assert sum(len(states) for states in outcomes.values()) >= 20


def test_a_later_write_removes_temporaries_left_by_a_killed_writer(em_saved, tmp_path):
    fit, _ = em_saved
    target, fit_dir = tmp_path / "soft.parquet", tmp_path / "fit"
    old, fresh = tmp_path / ".soft.parquet.dead1.tmp", tmp_path / ".soft.parquet.live1.tmp"
    old_dir = tmp_path / ".fit.dead2.tmp"
    for path in (old, fresh):
        path.write_bytes(b"PAR1 half a file")
    old_dir.mkdir()
    (old_dir / "posterior.nc").write_bytes(b"half")
    an_hour_ago = time.time() - _io.STALE_SECONDS - 60
    for path in (old, old_dir):
        os.utime(path, (an_hour_ago, an_hour_ago))
    fit.export(target)
    fit.save(fit_dir)
    assert not old.exists() and not old_dir.exists()
    assert fresh.exists()  # may belong to a writer still at work


def test_an_interrupted_swap_puts_the_previous_fit_back(em_saved, tmp_path, monkeypatch):
    """Where the atomic exchange is unavailable a save renames twice; an exception between the
    two renames (Ctrl-C) restores the previous directory instead of leaving none."""
    from bayeslabels import persist

    fit, _ = em_saved
    target = fit.save(tmp_path / "fit")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(persist, "_exchange", lambda new, current: False)
    monkeypatch.setattr(persist.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        fit.save(target)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- disk full


def _enospc_after_half(write):
    """A writer that writes half of what ``write`` would, then fails as a full disk does."""

    def patched(*args):
        path = next(a for a in args if isinstance(a, Path))
        write(*args)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    return patched


def test_disk_full_during_export_keeps_the_previous_file(em_saved, tmp_path, monkeypatch, capsys):
    writer_module = importlib.import_module("bayeslabels.soft_labels")  # SoftLabels.write writes the file

    fit, fit_dir = em_saved
    target = fit.export(tmp_path / "soft.parquet")
    before = target.read_bytes()
    monkeypatch.setattr(writer_module, "_write_parquet", _enospc_after_half(writer_module._write_parquet))
    with pytest.raises(OSError) as caught:
        fit.export(target)
    assert caught.value.errno == errno.ENOSPC and str(target) in str(caught.value)  # not the temporary
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["soft.parquet"]

    assert cli_main(["export", str(fit_dir), "--out", str(target)]) != 0
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("bayeslabels: error: ")
    assert "No space left on device: cannot write" in stderr and "soft.parquet; nothing was written" in stderr
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["soft.parquet"]


def test_disk_full_during_a_csv_export_leaves_neither_file_nor_sidecar(em_saved, tmp_path, monkeypatch):
    fit, _ = em_saved
    real = pd.DataFrame.to_csv

    def to_csv(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)
        Path(path).write_bytes(Path(path).read_bytes()[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(OSError, match="No space left on device"):
        fit.export(tmp_path / "soft.csv")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_during_save_keeps_the_previous_fit(em_saved, tmp_path, monkeypatch, capsys):
    from bayeslabels import persist

    fit, _ = em_saved
    target = fit.save(tmp_path / "fit")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    monkeypatch.setattr(persist, "_write_annotations", _enospc_after_half(persist._write_annotations))
    with pytest.raises(OSError) as caught:
        fit.save(target)
    assert caught.value.errno == errno.ENOSPC and str(target) in str(caught.value)  # not the temporary
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["fit"]

    labels = tmp_path.parent / f"{tmp_path.name}-labels.csv"
    fit.annotations.to_frame().to_csv(labels, index=False)
    args = ["fit", str(labels), "--method", "em", "--save", str(target), "--out", str(tmp_path / "soft.csv")]
    assert cli_main(args) != 0
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("bayeslabels: error: ")
    assert f"No space left on device: cannot save the fit to {target}; nothing was written" in stderr
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["fit"]
