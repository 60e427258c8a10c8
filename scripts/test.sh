#!/usr/bin/env bash
# Set everything up, then run the linter, the type checker and the fast test suite. Extra
# arguments go to pytest (e.g. `bash scripts/test.sh -m slow` for the long recovery runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/ruff check bayeslabels tests benchmarks
.venv/bin/mypy  # config and files: [tool.mypy] in pyproject.toml
# Two worker processes (pytest-xdist; the CI machine has 2 cores): the suite is bound by model
# compiles, which run in parallel; the tests of each sampled session fixture share one worker
# (tests/conftest.py). BAYESLABELS_TEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -n "${BAYESLABELS_TEST_WORKERS:-2}" --dist loadgroup "$@"
