"""Learning from crowds (issue 20): the joint Bayesian model of item features, true class and
annotators, against Dawid–Skene and two-stage pipelines.

1. Simulated data (features → class → annotators, `bl.simulate.learning_from_crowds`): do the
   90 % intervals of the weights W and of the confusion matrices cover the truth at about 90 %,
   and are the soft labels of items with 1–2 labels more accurate than Dawid–Skene's?
2. rte (800 textual-entailment pairs, 10 crowd labels each, expert gold, item text bundled):
   features from the text (TF-IDF → TruncatedSVD, plus six word-overlap features of hypothesis
   and text), and three arms scored on gold items whose labels were all held out of every fit
   (3-fold cross-fitting over items: every item is scored once, by fits that never saw any of
   its labels; gold is never used in a fit):
   (a) majority vote → logistic regression, (b) Dawid–Skene posterior soft labels → logistic
   regression (soft targets as weighted duplicated rows), (c) the joint model's
   ``predict_items``. Paired bootstrap intervals of accuracy and log-loss differences.

Run: ``python benchmarks/learning_from_crowds.py`` (``--fast`` for a quick look; ``--part sim``
or ``--part rte``). Writes results/learning_from_crowds.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, SHARED_NOTE, machine_info, machine_line  # noqa: E402

import bayeslabels as bl  # noqa: E402

LFC = "learning-from-crowds"
TOKEN = re.compile(r"[a-z0-9]+")
NEGATIONS = {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"}


# --------------------------------------------------------------------------- 1. simulated
def simulated(seeds: list[int], nuts: dict, n_boot: int) -> dict:
    """Coverage of W and the confusion by the joint model; accuracy on items with 1–2 labels
    against Dawid–Skene (NUTS both), pooled over ``seeds``."""
    covered_w, covered_pi, rows = [], [], []
    few_truth, few_lfc, few_ds = [], [], []
    for seed in seeds:
        sim = bl.simulate.learning_from_crowds(
            n_items=500,
            n_annotators=20,
            n_features=5,
            labels_per_item=(1, 4),
            accuracy=(0.6, 0.85),
            weight_sd=1.0,
            seed=seed,
        )
        started = time.perf_counter()
        lfc = bl.fit(sim.annotations, model=LFC, features=sim.features, seed=seed, quiet=True, **nuts)
        lfc_s = time.perf_counter() - started
        ds = bl.fit(sim.annotations, model="dawid-skene", seed=seed, quiet=True, **nuts)
        w, pi = lfc.draws("weights")[..., 1], lfc.draws("confusion")[..., 1]  # the free coordinates (K = 2)
        true_w, true_pi = sim.parameters["weights"][:, 1], sim.parameters["confusion"][..., 1]
        lo, hi = np.quantile(w, [0.05, 0.95], axis=0)
        covered_w.append((lo <= true_w) & (true_w <= hi))
        lo, hi = np.quantile(pi, [0.05, 0.95], axis=0)
        covered_pi.append(((lo <= true_pi) & (true_pi <= hi)).ravel())
        few = sim.annotations.labels_per_item <= 2
        p_lfc, p_ds = lfc.soft_labels().mean, ds.soft_labels().mean
        few_truth.append(sim.true_class[few])
        few_lfc.append(p_lfc[few])
        few_ds.append(p_ds[few])
        rows.append(
            {
                "seed": seed,
                "items": sim.annotations.n_items,
                "items_1_2_labels": int(few.sum()),
                "w_coverage": float(covered_w[-1].mean()),
                "confusion_coverage": float(covered_pi[-1].mean()),
                "accuracy_1_2_lfc": float((p_lfc[few].argmax(1) == sim.true_class[few]).mean()),
                "accuracy_1_2_ds": float((p_ds[few].argmax(1) == sim.true_class[few]).mean()),
                "accuracy_all_lfc": float((p_lfc.argmax(1) == sim.true_class).mean()),
                "accuracy_all_ds": float((p_ds.argmax(1) == sim.true_class).mean()),
                "lfc_check_ok": bool(lfc.check().ok),
                "lfc_seconds": round(lfc_s, 1),
            }
        )
        print(rows[-1], flush=True)
    truth = np.concatenate(few_truth)
    gold = pd.Series(truth.astype(str), index=[f"i{n}" for n in range(len(truth))])
    comparison = bl.compare_targets(
        {
            "dawid-skene": _soft(gold.index, np.concatenate(few_ds)),
            LFC: _soft(gold.index, np.concatenate(few_lfc)),
        },
        gold,
        ci_prob=0.95,
        n_boot=n_boot,
        seed=0,
    )
    w_all, pi_all = np.concatenate(covered_w), np.concatenate(covered_pi)
    return {
        "per_seed": rows,
        "w_coverage": float(w_all.mean()),
        "w_intervals": int(w_all.size),
        "confusion_coverage": float(pi_all.mean()),
        "confusion_intervals": int(pi_all.size),
        "items_1_2_labels_comparison": _differences(comparison),
    }


# --------------------------------------------------------------------------- 2. rte
def overlap_features(text: str, hypothesis: str) -> list[float]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    t, h = TOKEN.findall(text.lower()), TOKEN.findall(hypothesis.lower())
    t_set = set(t)
    content = [w for w in h if w not in ENGLISH_STOP_WORDS]
    t_bigrams, h_bigrams = set(zip(t, t[1:], strict=False)), list(zip(h, h[1:], strict=False))
    return [
        float(np.mean([w in t_set for w in h])) if h else 0.0,
        float(np.mean([w in t_set for w in content])) if content else 1.0,
        float(np.mean([b in t_bigrams for b in h_bigrams])) if h_bigrams else 0.0,
        float(np.log1p(len(t))),
        float(np.log1p(len(h))),
        float(bool(NEGATIONS & set(h)) != bool(NEGATIONS & t_set)),
    ]


OVERLAP_NAMES = ["overlap", "content_overlap", "bigram_overlap", "log_len_text", "log_len_hyp", "negation"]
MODALS = {"may", "might", "could", "would", "should", "can", "possibly", "probably", "likely"}
REPORTING = {"said", "says", "claimed", "claims", "allegedly", "reportedly", "reported"}
LEXICAL_NAMES = [
    "stem_overlap",
    "novel_words",
    "novel_number",
    "name_overlap",
    "jaccard",
    "negation_hyp",
    "negation_text",
    "hedge_text",
    "hedge_hyp",
    "idf_coverage",
    "novel_idf",
    "content_words_hyp",
    "length_ratio",
]


def lexical_features(text: str, hypothesis: str, idf: dict[str, float]) -> list[float]:
    """More cheap lexical cues of entailment (no download): overlap of 5-letter stems, the
    hypothesis's content words absent from the text (count and IDF mass, IDF from the training
    items' text), numbers and capitalised names of the hypothesis missing from the text, Jaccard
    overlap, negation and hedging (modals, reporting verbs) on either side, and lengths."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    t, h = TOKEN.findall(text.lower()), TOKEN.findall(hypothesis.lower())
    t_set, h_set, t_stems = set(t), set(h), {w[:5] for w in t}
    content = [w for w in h if w not in ENGLISH_STOP_WORDS]
    novel = [w for w in content if w not in t_set]
    numbers = {w for w in h if w.isdigit()} - {w for w in t if w.isdigit()}
    names = {w.lower() for w in re.findall(r"(?<!^)\b[A-Z][a-zA-Z]+", hypothesis)}
    unseen = max(idf.values(), default=1.0)
    weight = np.array([idf.get(w, unseen) for w in content])
    found = np.array([w in t_set for w in content], dtype=float)
    hedges = MODALS | REPORTING
    return [
        float(np.mean([w[:5] in t_stems for w in content])) if content else 1.0,
        float(len(novel)),
        float(bool(numbers)),
        float(np.mean([w in t_set for w in names])) if names else 1.0,
        float(len(h_set & t_set) / len(h_set | t_set)) if h_set | t_set else 0.0,
        float(bool(NEGATIONS & h_set)),
        float(bool(NEGATIONS & t_set)),
        float(bool(hedges & t_set)),
        float(bool(hedges & h_set)),
        float((weight * found).sum() / weight.sum()) if content else 1.0,
        float((weight * (1 - found)).sum()),
        float(len(content)),
        float(len(h) / max(len(t), 1)),
    ]


def rte_features(items: pd.DataFrame, train: list[str], test: list[str], components: int, seed: int) -> tuple:
    """(train features, test features) DataFrames indexed by item: TF-IDF of text + hypothesis →
    TruncatedSVD, fitted on the training items' text only, the six word-overlap features and the
    thirteen lexical ones (`lexical_features`, IDF from the training items' text)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = items["text"] + " " + items["hypothesis"]
    tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit(documents.loc[train])
    svd = TruncatedSVD(n_components=components, random_state=seed).fit(tfidf.transform(documents.loc[train]))
    words = TfidfVectorizer(token_pattern=r"[a-z0-9]+").fit(items["text"].str.lower().loc[train])
    idf = dict(zip(words.get_feature_names_out(), words.idf_, strict=True))

    def frame(ids: list[str]) -> pd.DataFrame:
        svd_part = svd.transform(tfidf.transform(documents.loc[ids]))
        pairs = [(items.at[i, "text"], items.at[i, "hypothesis"]) for i in ids]
        overlap = [overlap_features(t, h) for t, h in pairs]
        lexical = [lexical_features(t, h, idf) for t, h in pairs]
        return pd.DataFrame(
            np.hstack([svd_part, np.asarray(overlap), np.asarray(lexical)]),
            index=pd.Index(ids, name="item"),
            columns=[f"svd{c}" for c in range(components)] + OVERLAP_NAMES + LEXICAL_NAMES,
        )

    return frame(train), frame(test)


def logistic(x_train: pd.DataFrame, targets: np.ndarray, x_test: pd.DataFrame, c: float) -> np.ndarray:
    """P(class 1) of the test items by an L2 logistic regression on standardised features, trained
    on soft ``targets`` (P(class 1) per training item) as two weighted rows per item."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    x = scaler.transform(x_train)
    rows = np.vstack([x, x])
    labels = np.r_[np.zeros(len(x)), np.ones(len(x))]
    weights = np.r_[1 - targets, targets]
    model = LogisticRegression(C=c, max_iter=5000).fit(rows, labels, sample_weight=weights)
    return model.predict_proba(scaler.transform(x_test))[:, 1]


def rte(folds: int, nuts: dict, components: int, c: float, n_boot: int, seed: int = 0) -> dict:
    ann = bl.datasets.load("rte")
    items = pd.read_csv(bl.datasets.paths("rte")["items"], dtype=str, keep_default_na=False).set_index("item")
    ids = np.asarray(ann.items, dtype=object)
    fold_of = np.random.default_rng(seed).permutation(len(ids)) % folds
    predictions: dict[str, dict[str, float]] = {
        "(a) majority vote → LR": {},
        "(b) DS soft labels → LR": {},
        "(c) joint model": {},
    }
    timings = []
    for fold in range(folds):
        train_ids, test_ids = list(ids[fold_of != fold]), list(ids[fold_of == fold])
        train = ann.subset(train_ids).drop_unlabelled()  # the test items' labels never enter a fit
        x_train, x_test = rte_features(items, train_ids, test_ids, components, seed)
        vote = bl.majority_vote(train, seed=seed).soft_labels().to_frame().set_index("item")["p_1"]
        started = time.perf_counter()
        ds = bl.fit(train, model="dawid-skene", use_gold=False, seed=seed, quiet=True, **nuts)
        ds_s = time.perf_counter() - started
        soft = ds.soft_labels().to_frame().set_index("item")["p_1"]
        started = time.perf_counter()
        joint = bl.fit(train, model=LFC, features=x_train, use_gold=False, seed=seed, quiet=True, **nuts)
        joint_s = time.perf_counter() - started
        arms = {
            "(a) majority vote → LR": logistic(x_train, vote.loc[train_ids].to_numpy(), x_test, c),
            "(b) DS soft labels → LR": logistic(x_train, soft.loc[train_ids].to_numpy(), x_test, c),
            "(c) joint model": joint.predict_items(x_test).mean[:, 1],
        }
        for name, p1 in arms.items():
            predictions[name].update(dict(zip(test_ids, p1, strict=True)))
        timings.append(
            {
                "fold": fold,
                "train_items": len(train_ids),
                "test_items": len(test_ids),
                "ds_seconds": round(ds_s, 1),
                "joint_seconds": round(joint_s, 1),
                "ds_check_ok": bool(ds.check().ok),
                "joint_check_ok": bool(joint.check().ok),
                "joint_check": str(joint.check().verdict),
            }
        )
        print(timings[-1], flush=True)
        if fold == 0:
            coefficients = joint.coefficients().query("`class` == '1'").drop(columns="class")
    gold = ann.gold_series()
    targets = {name: _soft(pd.Index(list(p)), np.array(list(p.values()))) for name, p in predictions.items()}
    against = {
        baseline: _differences(
            bl.compare_targets(
                {baseline: targets[baseline], "(c) joint model": targets["(c) joint model"]},
                gold,
                ci_prob=0.95,
                n_boot=n_boot,
                seed=0,
            )
        )
        for baseline in ("(a) majority vote → LR", "(b) DS soft labels → LR")
    }
    return {
        "folds": timings,
        "features": list(x_train.columns),
        "c": c,
        "comparisons": against,
        "coefficients_fold0": coefficients.round(3).to_dict("records"),
    }


# --------------------------------------------------------------------------- helpers
def _soft(items: pd.Index, p: np.ndarray) -> bl.SoftLabels:
    """SoftLabels of P(class 1) (or items × 2 probabilities) for classes '0', '1'."""
    p = np.asarray(p, dtype=float)
    probs = np.column_stack([1 - p, p]) if p.ndim == 1 else p
    probs = np.clip(probs, 1e-6, 1 - 1e-6)
    probs /= probs.sum(axis=1, keepdims=True)
    return bl.as_soft_labels(pd.DataFrame({"item": list(items), "p_0": probs[:, 0], "p_1": probs[:, 1]}))


def _differences(comparison: Any) -> list[dict]:
    keep = comparison.differences[comparison.differences["metric"].isin(["accuracy", "log_loss", "brier"])]
    columns = [
        "metric",
        "target",
        "baseline",
        "target_estimate",
        "baseline_estimate",
        "difference",
        "lo",
        "hi",
    ]
    return keep[columns].round(4).to_dict("records")


def _table(records: list[dict]) -> list[str]:
    lines = ["| metric | joint | baseline | joint − baseline | 95 % interval |", "|---|---:|---:|---:|---|"]
    for r in records:
        lines.append(
            f"| {r['metric']} | {r['target_estimate']:.3f} | {r['baseline_estimate']:.3f} | "
            f"{r['difference']:+.3f} | [{r['lo']:+.3f}, {r['hi']:+.3f}] |"
        )
    return lines


def markdown(result: dict) -> str:
    lines = ["# Learning from crowds: the joint model of features, class and annotators", ""]
    lines += [
        machine_line(result["machine"]),
        "",
        SHARED_NOTE,
        "",
        f"Settings: {json.dumps(result['settings'])}",
        "",
    ]
    if "simulated" in result:
        s = result["simulated"]
        lines += [
            "## Simulated data (features → class → annotators)",
            "",
            "500 items, 20 annotators (per-class accuracy 0.6–0.85), 5 standard normal features, weights "
            "drawn from the model's default prior (zero-sum normal, sd 1), 1–4 labels per item; NUTS "
            "for the joint model and for Dawid–Skene. Coverage is of the free coordinate of each "
            "(zero-sum) weight and of each confusion row (K = 2).",
            "",
            f"- 90 % intervals of W cover the truth for **{s['w_coverage']:.1%}** of {s['w_intervals']} "
            f"weights; of the confusion entries for **{s['confusion_coverage']:.1%}** of "
            f"{s['confusion_intervals']}.",
            "",
            "| seed | items with 1–2 labels | W coverage | confusion coverage | accuracy 1–2 labels: joint | "
            "Dawid–Skene | all items: joint | Dawid–Skene | joint check ok | joint fit s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        ]
        for r in s["per_seed"]:
            lines.append(
                f"| {r['seed']} | {r['items_1_2_labels']} | {r['w_coverage']:.2f} | "
                f"{r['confusion_coverage']:.2f} | "
                f"{r['accuracy_1_2_lfc']:.3f} | {r['accuracy_1_2_ds']:.3f} | {r['accuracy_all_lfc']:.3f} | "
                f"{r['accuracy_all_ds']:.3f} | {r['lfc_check_ok']} | {r['lfc_seconds']} |"
            )
        lines += [
            "",
            "Items with 1–2 labels, pooled over seeds, joint model vs Dawid–Skene (paired bootstrap):",
            "",
        ]
        lines += _table(s["items_1_2_labels_comparison"]) + [""]
    if "rte" in result:
        r = result["rte"]
        lines += [
            "## rte: predictions for items whose labels were all held out",
            "",
            f"3-fold cross-fitting over the 800 items: each fold's fits see the other folds' crowd labels "
            f"only (gold never enters a fit); every item is scored once against its expert gold. Features "
            f"({len(r['features'])}): TF-IDF of text + hypothesis → TruncatedSVD (fitted on the training "
            f"items' text only) and six word-overlap features. Logistic regression C = {r['c']} on "
            "standardised features (the same prior scale on the log-odds as the joint model's default "
            "W ~ ZeroSumNormal(1), variance 2).",
            "",
            "| fold | train items | test items | DS s | joint s | DS check ok | joint check |",
            "|---:|---:|---:|---:|---:|---|---|",
        ]
        for f in r["folds"]:
            lines.append(
                f"| {f['fold']} | {f['train_items']} | {f['test_items']} | {f['ds_seconds']} | "
                f"{f['joint_seconds']} | {f['ds_check_ok']} | {f['joint_check']} |"
            )
        for baseline, records in r["comparisons"].items():
            lines += [
                "",
                f"**(c) joint model vs {baseline}** (paired bootstrap over the 800 gold items):",
                "",
            ]
            lines += _table(records)
        lines += ["", "Joint model's weights for class 1 (fold 0), per sd of each feature:", ""]
        lines += ["| feature | weight | sd | 90 % interval |", "|---|---:|---:|---|"]
        for row in r["coefficients_fold0"]:
            lines.append(
                f"| {row['feature']} | {row['weight']:+.3f} | {row['weight_sd']:.3f} | "
                f"[{row['weight_lo']:+.3f}, {row['weight_hi']:+.3f}] |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer draws and seeds (a quick look)")
    parser.add_argument("--part", choices=["sim", "rte", "all"], default="all")
    args = parser.parse_args()
    nuts = (
        {"draws": 300, "tune": 300, "chains": 2} if args.fast else {"draws": 1000, "tune": 1000, "chains": 4}
    )
    n_boot = 500 if args.fast else 2000
    settings = {"nuts": nuts, "n_boot": n_boot, "fast": args.fast}
    result: dict = {"machine": machine_info(), "settings": settings}
    out = RESULTS / "learning_from_crowds.json"
    if out.exists() and args.part != "all":  # keep the other part's numbers
        previous = json.loads(out.read_text())
        result.update({key: previous[key] for key in ("simulated", "rte") if key in previous})
    started = time.perf_counter()

    def write() -> None:  # after each part, so a failure later keeps what was measured
        result["seconds"] = round(time.perf_counter() - started, 1)
        out.write_text(json.dumps(result, indent=2, default=str))
        (RESULTS / "learning_from_crowds.md").write_text(markdown(result))

    if args.part in ("sim", "all"):
        result["simulated"] = simulated([0, 1] if args.fast else [0, 1, 2, 3, 4], nuts, n_boot)
        write()
    if args.part in ("rte", "all"):
        result["rte"] = rte(3, nuts, components=20, c=2.0, n_boot=n_boot)
        write()
    print(markdown(result))


if __name__ == "__main__":
    main()
