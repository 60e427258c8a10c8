#!/usr/bin/env bash
# Build ./.venv with a Python >= 3.12 and install bayeslabels (with its test extra) into it.
# Idempotent: a second run with unchanged pyproject.toml does nothing and takes a second.
# Usage: bash scripts/setup.sh [extra ...]     (default extra: test)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="${*:-test}"

is_312_plus() {  # prints the interpreter's path when it is CPython >= 3.12
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local candidates=()
  [ -n "${BAYESLABELS_PYTHON:-}" ] && candidates+=("$BAYESLABELS_PYTHON")
  candidates+=(python3.13 python3.12)
  for v in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    [ -x "$v" ] && candidates+=("$v")
  done
  candidates+=(python3 python)
  local c path
  for c in "${candidates[@]}"; do
    path="$(command -v "$c" 2>/dev/null || true)"
    [ -z "$path" ] && continue
    # pyenv shims exist for every version name; ask the interpreter itself.
    if is_312_plus "$path"; then echo "$path"; return 0; fi
    if [ -n "$(command -v pyenv 2>/dev/null)" ] && [[ "$path" == *"/shims/"* ]]; then
      local real
      real="$(PYENV_VERSION="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])' | tail -n1)" pyenv which "$(basename "$c")" 2>/dev/null || true)"
      if [ -n "$real" ] && is_312_plus "$real"; then echo "$real"; return 0; fi
    fi
  done
  return 1
}

stamp=".venv/.bayeslabels-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16) $extras"
if [ -x .venv/bin/python ] && is_312_plus .venv/bin/python && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if ! [ -x .venv/bin/python ] || ! is_312_plus .venv/bin/python; then
  py="$(find_python)" || {
    echo "bayeslabels setup: no Python >= 3.12 found (PyMC 6 needs it). Install one (e.g. 'pyenv install 3.12') or set BAYESLABELS_PYTHON=/path/to/python3.12." >&2
    exit 1
  }
  echo "bayeslabels setup: building .venv with $py ($("$py" --version 2>&1))" >&2
  rm -rf .venv
  "$py" -m venv .venv
fi
log=".venv/setup.log"
spec=".[${extras// /,}]"
echo "bayeslabels setup: installing into .venv (log: $log)" >&2
if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip \
       && .venv/bin/python -m pip install --disable-pip-version-check -e "$spec"; } >"$log" 2>&1; then
  grep -v "is ignored" "$log" | tail -n 30 >&2
  echo "bayeslabels setup: pip failed (full log: $log)" >&2
  exit 1
fi
.venv/bin/python -c "import bayeslabels, pymc; assert int(pymc.__version__.split('.')[0]) >= 6" || {
  echo "bayeslabels setup: installed, but bayeslabels or PyMC >= 6 does not import (log: $log)" >&2; exit 1; }
echo "$want" > "$stamp"
