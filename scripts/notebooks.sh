#!/usr/bin/env bash
# Set everything up, then execute the worked notebooks at full settings and save their figures
# under docs/figures/ (nb01_*.png, nb02_*.png, ...). The notebooks in notebooks/ are not modified:
# the executed copies (with outputs) go to $BAYESLABELS_NOTEBOOKS_OUT, default a new temporary
# directory, printed at the end.
# Usage: bash scripts/notebooks.sh [notebooks/01-fit-interactively.ipynb ...]   (default: all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
unset BAYESLABELS_FAST  # full settings
export BAYESLABELS_FIGURES="$PWD/docs/figures"
out="${BAYESLABELS_NOTEBOOKS_OUT:-$(mktemp -d -t bayeslabels-notebooks.XXXXXX)}"
mkdir -p "$out"
exec .venv/bin/python - "$out" "$@" <<'EOF'
import re
import sys
import time
from pathlib import Path

import nbclient
import nbformat

out, chosen = Path(sys.argv[1]), [Path(p).resolve() for p in sys.argv[2:]]
folder = Path("notebooks").resolve()
paths = chosen or sorted(folder.glob("*.ipynb"))
ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
failed = []
for path in paths:
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    print(f"running {path.name} ...", flush=True)
    try:
        nbclient.NotebookClient(
            nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        ).execute()
        print(f"  ok in {time.perf_counter() - started:.0f} s", flush=True)
    except nbclient.exceptions.CellExecutionError as exc:
        failed.append(path.name)
        print(f"  FAILED after {time.perf_counter() - started:.0f} s:\n{ansi.sub('', str(exc))}", flush=True)
    nbformat.write(nb, out / path.name)
print(f"figures: {Path.cwd() / 'docs' / 'figures'}; executed notebooks: {out}")
if failed:
    sys.exit(f"failed: {', '.join(failed)}")
EOF
