#!/usr/bin/env bash
# Set everything up, then run the linter, the type checker and the fast test suite. Extra
# arguments go to pytest (e.g. `bash scripts/test.sh -m slow` for the long recovery runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# Headless Chromium for the HTML report's browser test (tests/test_report_browser.py, which
# skips, saying why, where there is none): from Debian's packages, where apt-get runs as root.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bayeslabels test: installing chromium with apt-get (log: .venv/chromium.log)" >&2
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } >.venv/chromium.log 2>&1 \
      || echo "bayeslabels test: apt-get could not install chromium (see .venv/chromium.log): the browser test is skipped" >&2
  else
    echo "bayeslabels test: no chromium, and no apt-get as root to install it: the browser test is skipped" >&2
  fi
fi
.venv/bin/ruff check bayeslabels tests benchmarks
.venv/bin/ruff format --check bayeslabels tests benchmarks
.venv/bin/mypy  # config and files: [tool.mypy] in pyproject.toml
# Two worker processes (pytest-xdist; the CI machine has 2 cores): the suite is bound by model
# compiles, which run in parallel; the tests of each sampled session fixture share one worker
# (tests/conftest.py). Where this process may use only one core (`taskset -c 0`; nproc counts
# the cores it may use), one worker: two on one core took 29.5 min where one took 20.
# BAYESLABELS_TEST_WORKERS=0 runs everything in this process. The 25 slowest tests are listed
# at the end (where the suite's time goes).
cores=$(nproc 2>/dev/null || echo 2)
exec .venv/bin/python -m pytest -n "${BAYESLABELS_TEST_WORKERS:-$((cores < 2 ? 1 : 2))}" --dist loadgroup \
  --durations=25 "$@"
