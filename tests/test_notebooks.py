"""The worked notebooks in notebooks/: each is stored stripped, starts with the shared contract
cell, and executes end to end at FAST settings (BAYESLABELS_FAST=1: fewer draws, same code),
writing its figures (PNG) only under BAYESLABELS_FIGURES. Every notebooks/*.ipynb is picked up.

Full settings, with the figures going to docs/figures/: ``bash scripts/notebooks.sh``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell; a first NUTS compile takes 30-60 s on a small machine
CONTRACT = """import os
from pathlib import Path
FAST = os.environ.get("BAYESLABELS_FAST") == "1"  # the test suite sets this: fewer draws, same code
FIGURES = Path(os.environ.get("BAYESLABELS_FIGURES", "../docs/figures"))
FIGURES.mkdir(parents=True, exist_ok=True)"""
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

by_name = pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
# Notebooks whose FAST run still takes minutes (several cross-fitted NUTS fits, each compiled
# anew): executed by `pytest -m slow` and by scripts/notebooks.sh, checked for form by default.
LONG = {"04-learning-from-crowds.ipynb"}
run_by_name = pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in LONG else p for p in PATHS],
    ids=[p.name for p in PATHS],
)


def _execute(nb, cwd: Path):
    """Run ``nb`` in place with the python3 kernel (this interpreter), working directory ``cwd``."""
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    return client.execute()


def _failure(path: Path, nb, exc: Exception) -> str:
    """The failing cell's number, source and traceback (ANSI colours removed)."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                traceback = ANSI.sub("", "\n".join(output.get("traceback", [])))
                return (
                    f"{path.name}: cell {index} raised {output.get('ename')}: {output.get('evalue')}\n"
                    f"---- cell source ----\n{cell.source}\n---- traceback ----\n{traceback}"
                )
    return f"{path.name}: execution failed: {ANSI.sub('', str(exc))}"


def test_there_are_notebooks():
    assert len(PATHS) >= 2, f"expected the worked notebooks in {NOTEBOOKS}"


@by_name
def test_notebook_is_stored_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} carry outputs or an execution count; store notebooks stripped "
        "(e.g. jupyter nbconvert --clear-output --inplace, or nbstripout)"
    )
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernelspec {kernel!r}, expected python3"


@by_name
def test_notebook_starts_with_the_contract_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert first.source.strip() == CONTRACT, f"{path.name}: the first code cell must be exactly:\n{CONTRACT}"


def test_kernel_is_this_interpreter():
    """The python3 kernel runs in this environment (the venv), not some other Python on the PATH."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    _execute(nb, NOTEBOOKS)
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert Path(printed).resolve() == Path(sys.prefix).resolve(), (printed, sys.prefix)


@run_by_name
def test_notebook_runs(path, tmp_path, monkeypatch):
    figures = tmp_path / "figures"
    monkeypatch.setenv("BAYESLABELS_FAST", "1")
    monkeypatch.setenv("BAYESLABELS_FIGURES", str(figures))
    before = set(NOTEBOOKS.rglob("*"))
    nb = nbformat.read(path, as_version=4)
    try:
        _execute(nb, NOTEBOOKS)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(_failure(path, nb, exc), pytrace=False)
    written = sorted(p.name for p in figures.iterdir()) if figures.exists() else []
    assert any(name.endswith(".png") for name in written), f"{path.name} wrote no PNG into FIGURES"
    prefix = f"nb{path.name[:2]}_"
    stray = [name for name in written if not (name.endswith(".png") and name.startswith(prefix))]
    assert not stray, f"{path.name}: FIGURES should hold only {prefix}*.png, found {stray}"
    new = sorted(p for p in set(NOTEBOOKS.rglob("*")) - before if p.suffix != ".ipynb")
    assert not new, f"{path.name} wrote into notebooks/ (use tempfile): {new}"
