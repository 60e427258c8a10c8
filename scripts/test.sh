#!/usr/bin/env bash
# Set everything up, then run the fast test suite and the linter. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m slow` for the long recovery runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/ruff check bayeslabels tests benchmarks
# Two worker processes (pytest-xdist; the CI machine has 2 cores): the suite is bound by model
# compiles, which run in parallel. BAYESLABELS_TEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -n "${BAYESLABELS_TEST_WORKERS:-2}" "$@"
