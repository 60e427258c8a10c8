"""Per-gradient cost of the per-item families' likelihoods on every bundled data set: summed over
the padded items × slots label table (padding masked) vs over the labels themselves
(`filled_rows`, `per_item_sum`), side by side in one process, through numba.

item-difficulty's likelihood (`difficulty_labels_logp`) sums over the labels since commit a094ea7;
the padded form it replaced is kept here, verbatim in its math, as the reference. ambiguity has
both forms (`ambiguity_logp` over the padded table, `ambiguity_logp_over_labels`) and chooses by
how full the table is (`sums_over_labels`): one gather and one log per label leave the
scatter-add as the larger cost except on a sparsely filled table.

Each form is evaluated with its gradient at one random parameter point (data as constants), the
best of ``--repeats`` means of ``--evals`` calls; the two values must agree (they are the same
sum). Run from the repository root: ``.venv/bin/python benchmarks/ragged_gradient.py``; writes
benchmarks/results/ragged_gradient.{json,md}."""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import SHARED_NOTE, machine_info, machine_line, write


def padded_difficulty_logp(value, logits, log_rho, scale, effect, cells, gold_mask):
    """item-difficulty's per-item log-likelihood over the padded table (the form before a094ea7)."""
    import pytensor.tensor as pt
    from pytensor.gradient import disconnected_grad

    n_items, width, k = cells.shape[0], cells.shape[1], logits.shape[-1]
    present = pt.ge(cells, 0)
    slot_annotator = pt.maximum(cells, 0).ravel()
    slot_label = pt.maximum(value, 0).ravel()
    item_logits = -scale[:, None] * effect
    annotator_shifted = logits - disconnected_grad(pt.max(logits, axis=-1, keepdims=True))
    item_shift = disconnected_grad(pt.max(item_logits, axis=-1))
    a, b = pt.exp(annotator_shifted), pt.exp(item_logits - item_shift[..., None])
    norm = (a[slot_annotator].reshape((n_items, width, k, k)) * b[:, None]).sum(axis=-1)
    by_label = annotator_shifted.transpose(0, 2, 1).reshape((-1, k))
    picked = by_label[slot_annotator * k + slot_label].reshape((n_items, width, k))
    slots = pt.switch(present[..., None], picked - pt.log(norm), 0.0).sum(axis=1)
    counts = pt.eq(value[..., None], pt.arange(k)).sum(axis=1)
    items = (item_logits * counts[:, None, :]).sum(axis=-1) - present.sum(axis=1)[:, None] * item_shift
    return pt.logsumexp(slots + items + log_rho[None, :] + gold_mask, axis=-1)


def best_ms(calls: dict, evals: int, repeats: int) -> dict:
    """ms per call of each ``name: (function, args)``, the best of ``repeats`` means of
    ``evals`` calls, the forms taking turns within every repeat: a change of machine load
    between repeats then reaches every form alike."""
    for function, args in calls.values():
        function(*args)
    best = dict.fromkeys(calls, np.inf)
    for _ in range(repeats):
        for name, (function, args) in calls.items():
            start = time.perf_counter()
            for _ in range(evals):
                function(*args)
            best[name] = min(best[name], (time.perf_counter() - start) / evals)
    return {name: value * 1e3 for name, value in best.items()}


def measure(name: str, evals: int, repeats: int) -> dict:
    import pytensor
    import pytensor.tensor as pt

    import bayeslabels as bl
    from bayeslabels.models._likelihood import likelihood_data
    from bayeslabels.models.ambiguity import ambiguity_logp, ambiguity_logp_over_labels, sums_over_labels
    from bayeslabels.models.item_difficulty import difficulty_labels_logp

    ann = bl.datasets.load(name)
    data = likelihood_data(ann)
    n_items, k, n_annotators = ann.n_items, ann.n_classes, ann.n_annotators
    table, cells, slots = (pt.constant(data[key]) for key in ("label_table", "label_cells", "label_slots"))
    gold = pt.constant(np.zeros((n_items, k)))
    rng = np.random.default_rng(0)
    logits, log_rho, scale, effect = (
        pt.tensor3("logits"),
        pt.vector("log_rho"),
        pt.vector("scale"),
        pt.tensor3("effect"),
    )
    item_logits, confusion = pt.matrix("item_logits"), pt.tensor3("confusion")
    values = {
        "logits": rng.normal(size=(n_annotators, k, k)),
        "log_rho": np.full(k, -np.log(k)),
        "scale": np.ones(k),
        "effect": rng.normal(size=(n_items, k, k)),
        "item_logits": rng.normal(size=(n_items, k)),
        "confusion": rng.dirichlet(np.ones(k), size=(n_annotators, k)),
    }
    forms = {
        ("item-difficulty", "padded"): (
            padded_difficulty_logp(table, logits, log_rho, scale, effect, cells, gold),
            [logits, log_rho, scale, effect],
        ),
        ("item-difficulty", "labels"): (
            difficulty_labels_logp(table, logits, log_rho, scale, effect, cells, gold, slots),
            [logits, log_rho, scale, effect],
        ),
        ("ambiguity", "padded"): (
            ambiguity_logp(table, item_logits, confusion, cells),
            [item_logits, confusion],
        ),
        ("ambiguity", "labels"): (
            ambiguity_logp_over_labels(table, item_logits, confusion, cells, slots),
            [item_logits, confusion],
        ),
    }
    row: dict = {
        "data": name,
        "items": n_items,
        "labels": int(len(data["label_slots"])),
        "width": int(data["label_table"].shape[1]),
        "filled": len(data["label_slots"]) / data["label_table"].size,
        "ambiguity reads": "labels" if sums_over_labels(ann) else "padded",
    }
    calls: dict = {}
    for (family, form), (per_item, inputs) in forms.items():
        total = per_item.sum()
        function = pytensor.function(inputs, [total, *pt.grad(total, inputs)], mode="NUMBA")
        args = [values[x.name] for x in inputs]
        calls[f"{family} {form} ms"] = (function, args)
        row[f"{family} {form} logp"] = float(function(*args)[0])
    row.update(best_ms(calls, evals, repeats))
    for family in ("item-difficulty", "ambiguity"):
        assert np.isclose(row[f"{family} padded logp"], row[f"{family} labels logp"], rtol=1e-10), family
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+")
    parser.add_argument("--evals", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import bayeslabels as bl

    machine = machine_info()
    rows = [measure(name, args.evals, args.repeats) for name in args.data or bl.datasets.names()]
    lines = [
        "# Per-item families: likelihood over the padded table vs over the labels",
        "",
        machine_line(machine),
        "",
        f"ms per logp + gradient (numba, best of {args.repeats} means of {args.evals} calls, the four "
        "forms taking turns); "
        "filled: labels / (items × width); ambiguity reads: the form the model takes (over the labels "
        "below `OVER_LABELS_BELOW_FILL`). The two forms' values agree to 1e-10.",
        "",
        "| data | items | labels | width | filled | item-difficulty padded | over labels | ratio "
        "| ambiguity padded | over labels | ratio | ambiguity reads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        cells = [
            row["data"],
            f"{row['items']:,}",
            f"{row['labels']:,}",
            str(row["width"]),
            f"{row['filled']:.2f}",
        ]
        for family in ("item-difficulty", "ambiguity"):
            padded, labels = row[f"{family} padded ms"], row[f"{family} labels ms"]
            cells += [f"{padded:.2f}", f"{labels:.2f}", f"{padded / labels:.2f}×"]
        cells.append(row["ambiguity reads"])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", SHARED_NOTE, ""]
    write("ragged_gradient", {"machine": machine, "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
