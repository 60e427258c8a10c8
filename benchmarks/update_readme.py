"""Copy the latest result tables (``results/<name>.md``) into benchmarks/README.md.

The README's "Latest results" section, between the markers ``<!-- latest:begin -->`` and
``<!-- latest:end -->``, is rewritten from the result files named in ``ORDER`` (those that
exist), each table's own heading demoted one level. Run after a benchmark:
    .venv/bin/python benchmarks/update_readme.py
"""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "em_vs_crowdkit",
    "em_end_to_end",
    "first_fit",
    "first_nuts_fit",
    "saved_fit",
    "check_time",
    "nuts",
    "chain_parallelism",
    "jax_route",
    "ragged_gradient",
    "gpu",
    "scale_10m",
    "em_dask",
    "advi_scale",
    "models_sim",
    "models_real",
    "convergence",
    "ambiguity_spread",
    "ambiguity_corners",
    "ordinal",
    "sparse_cells",
    "calibration",
    "calibration_shipped_1",
    "calibration_shipped_2",
    "calibration_shipped_3",
    "calibration_shipped_4",
    "gold_free_rules_1",
    "gold_free_rules_2",
    "gold_ceiling",
    "label_switching",
    "pseudo_priors",
    "subtypes_demo",
]
WRITTEN_BY = {f"calibration_shipped_{i}": "calibration" for i in (1, 2, 3, 4)} | {
    f"gold_free_rules_{i}": "gold_free_rules" for i in (1, 2)
}
"""Result files whose benchmark script has another name (by default ``<name>.py``)."""
BEGIN, END = "<!-- latest:begin -->", "<!-- latest:end -->"


def section() -> str:
    parts = []
    for name in ORDER:
        path = HERE / "results" / f"{name}.md"
        if path.exists():
            text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", path.read_text().strip(), flags=re.M)
            script = WRITTEN_BY.get(name, name)
            parts.append(f"{text}\n\n(from `results/{name}.md`, written by `{script}.py`)")
    return "\n\n".join(parts)


def main() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} … {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n\n{section()}\n\n{END}{tail}")
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
