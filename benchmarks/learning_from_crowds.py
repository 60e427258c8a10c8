"""Learning from crowds (issue 20): the joint Bayesian model of item features, true class and
annotators, against Dawid–Skene and two-stage pipelines, under each prior on the weights W
(`JOINT_PRIORS`: fixed scale, learned global scale, regularised horseshoe).

1. Simulated data (features → class → annotators, `bl.simulate.learning_from_crowds`): do the
   90 % intervals of the weights W and of the confusion matrices cover the truth at about 90 %,
   and are the soft labels of items with 1–2 labels more accurate than Dawid–Skene's?
2. rte (800 textual-entailment pairs, 10 crowd labels each, expert gold, item text bundled):
   features from the text (TF-IDF → TruncatedSVD, six word-overlap and thirteen more lexical
   features of hypothesis and text, the same for every arm), and arms scored on gold items whose
   labels were all held out of every fit (3-fold cross-fitting over items: every item is scored
   once, by fits that never saw any of its labels; gold is never used in a fit):
   (a) majority vote → logistic regression, (b) Dawid–Skene posterior soft labels → logistic
   regression (soft targets as weighted duplicated rows), each with C matched to the joint
   model's fixed prior or chosen by inner CV on the training targets, (c) the joint model's
   ``predict_items`` under each prior. Paired bootstrap intervals of the differences.
3. rte, leave annotators out: (1) fits on one half of the annotators' labels of one half of
   the items predict the other items from features (their labellers, the other half, unseen);
   (2) soft labels of every item when a random half of the annotators is removed.

Run: ``python benchmarks/learning_from_crowds.py`` (``--fast`` for a quick look; ``--part sim``,
``rte`` or ``lao``). Writes results/learning_from_crowds.{json,md}.
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
def simulated(seeds: list[int], nuts: dict, n_boot: int, priors: dict) -> dict:
    """Per joint prior of ``priors``: coverage of W and the confusion; accuracy on items with
    1–2 labels against Dawid–Skene (NUTS both), pooled over ``seeds``."""
    by_prior: dict[str, dict[str, list]] = {
        name: {"w": [], "pi": [], "rows": [], "few": []} for name in priors
    }
    few_truth, few_ds = [], []
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
        ds = bl.fit(sim.annotations, model="dawid-skene", seed=seed, quiet=True, **nuts)
        few = sim.annotations.labels_per_item <= 2
        p_ds = ds.soft_labels().mean
        few_truth.append(sim.true_class[few])
        few_ds.append(p_ds[few])
        true_w, true_pi = sim.parameters["weights"][:, 1], sim.parameters["confusion"][..., 1]
        for name, (prior, extra) in priors.items():
            started = time.perf_counter()
            spec = bl.ModelSpec(model=LFC, priors=prior)
            lfc = bl.fit(
                sim.annotations, model=spec, features=sim.features, seed=seed, quiet=True, **nuts, **extra
            )
            lfc_s = time.perf_counter() - started
            w, pi = lfc.draws("weights")[..., 1], lfc.draws("confusion")[..., 1]  # free coordinates (K = 2)
            lo, hi = np.quantile(w, [0.05, 0.95], axis=0)
            kept = by_prior[name]
            kept["w"].append((lo <= true_w) & (true_w <= hi))
            lo, hi = np.quantile(pi, [0.05, 0.95], axis=0)
            kept["pi"].append(((lo <= true_pi) & (true_pi <= hi)).ravel())
            p_lfc = lfc.soft_labels().mean
            kept["few"].append(p_lfc[few])
            kept["rows"].append(
                {
                    "seed": seed,
                    "items": sim.annotations.n_items,
                    "items_1_2_labels": int(few.sum()),
                    "w_coverage": float(kept["w"][-1].mean()),
                    "confusion_coverage": float(kept["pi"][-1].mean()),
                    "accuracy_1_2_lfc": float((p_lfc[few].argmax(1) == sim.true_class[few]).mean()),
                    "accuracy_1_2_ds": float((p_ds[few].argmax(1) == sim.true_class[few]).mean()),
                    "accuracy_all_lfc": float((p_lfc.argmax(1) == sim.true_class).mean()),
                    "accuracy_all_ds": float((p_ds.argmax(1) == sim.true_class).mean()),
                    "lfc_check_ok": bool(lfc.check().ok),
                    "lfc_seconds": round(lfc_s, 1),
                }
            )
            print(name, kept["rows"][-1], flush=True)
    truth = np.concatenate(few_truth)
    gold = pd.Series(truth.astype(str), index=[f"i{n}" for n in range(len(truth))])
    result = {}
    for name, kept in by_prior.items():
        comparison = bl.compare_targets(
            {
                "dawid-skene": _soft(gold.index, np.concatenate(few_ds)),
                LFC: _soft(gold.index, np.concatenate(kept["few"])),
            },
            gold,
            ci_prob=0.95,
            n_boot=n_boot,
            seed=0,
        )
        w_all, pi_all = np.concatenate(kept["w"]), np.concatenate(kept["pi"])
        result[name] = {
            "per_seed": kept["rows"],
            "w_coverage": float(w_all.mean()),
            "w_intervals": int(w_all.size),
            "confusion_coverage": float(pi_all.mean()),
            "confusion_intervals": int(pi_all.size),
            "items_1_2_labels_comparison": _differences(comparison),
        }
    return {"by_prior": result}


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


C_GRID = np.logspace(-3, 1, 9)
C_RULES = ("matched", "inner CV")
JOINT_PRIORS = {
    "fixed scale": (bl.LearningFromCrowdsPriors(weight_scale_prior=0.0), {}),
    "learned scale": (bl.LearningFromCrowdsPriors(weight_scale_prior=1.0), {}),
    "horseshoe": (
        bl.LearningFromCrowdsPriors(weight_scale_prior=1.0, horseshoe_slab=2.0),
        {"target_accept": 0.95},
    ),
}
"""The joint model's weight priors compared (with any fitting settings they need): W ~
ZeroSumNormal(1); a learned global scale τ ~ HalfNormal(1), non-centred; a regularised
horseshoe on top of τ (slab 2; it needs a higher target acceptance against divergences)."""
SIM_PRIORS = ("fixed scale", "learned scale")
LAO_PRIORS = ("fixed scale", "learned scale")


def _weighted_rows(x: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft targets P(class 1) as two weighted rows per item: (rows, labels, weights)."""
    return np.vstack([x, x]), np.r_[np.zeros(len(x)), np.ones(len(x))], np.r_[1 - targets, targets]


def inner_cv_c(x: np.ndarray, targets: np.ndarray, seed: int, folds: int = 5) -> float:
    """The C of `C_GRID` with the least cross-entropy against the training items' own soft
    ``targets`` in ``folds``-fold CV over the training items (gold never used)."""
    from sklearn.linear_model import LogisticRegression

    fold_of = np.random.default_rng(seed).permutation(len(x)) % folds
    loss = np.zeros(len(C_GRID))
    for fold in range(folds):
        fit, held = fold_of != fold, fold_of == fold
        rows, labels, weights = _weighted_rows(x[fit], targets[fit])
        for n, c in enumerate(C_GRID):
            model = LogisticRegression(C=c, max_iter=5000).fit(rows, labels, sample_weight=weights)
            p = np.clip(model.predict_proba(x[held])[:, 1], 1e-9, 1 - 1e-9)
            loss[n] -= np.sum(targets[held] * np.log(p) + (1 - targets[held]) * np.log(1 - p))
    return float(C_GRID[int(np.argmin(loss))])


def logistic(
    x_train: pd.DataFrame, targets: np.ndarray, x_test: pd.DataFrame, c: float | None, seed: int = 0
) -> tuple[np.ndarray, float]:
    """(P(class 1) of the test items, the C used) by an L2 logistic regression on standardised
    features, trained on soft ``targets`` (P(class 1) per training item) as two weighted rows per
    item; ``c=None``: C by `inner_cv_c`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    x = scaler.transform(x_train)
    c = inner_cv_c(x, targets, seed) if c is None else c
    rows, labels, weights = _weighted_rows(x, targets)
    model = LogisticRegression(C=c, max_iter=5000).fit(rows, labels, sample_weight=weights)
    return model.predict_proba(scaler.transform(x_test))[:, 1], c


def two_stage_arms(
    train: bl.Annotations,
    train_ids: list[str],
    x_train: pd.DataFrame,
    x_test: pd.DataFrame,
    nuts: dict,
    c: float,
    seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, float], bl.Fit]:
    """(a) majority vote → LR and (b) Dawid–Skene soft labels → LR, each with C matched to the
    joint model's prior and with C by inner CV: (P(class 1) of the test items per arm, C per arm,
    the Dawid–Skene fit)."""
    vote = bl.majority_vote(train, seed=seed).soft_labels().to_frame().set_index("item")["p_1"]
    ds = bl.fit(train, model="dawid-skene", use_gold=False, seed=seed, quiet=True, **nuts)
    soft = ds.soft_labels().to_frame().set_index("item")["p_1"]
    predictions, chosen = {}, {}
    for arm, targets in (("(a) majority vote → LR", vote), ("(b) DS soft labels → LR", soft)):
        for rule in C_RULES:
            name = f"{arm}, C {rule}"
            predictions[name], chosen[name] = logistic(
                x_train, targets.loc[train_ids].to_numpy(), x_test, c if rule == "matched" else None, seed
            )
    return predictions, chosen, ds


def joint_arms(
    train: bl.Annotations, x_train: pd.DataFrame, x_test: pd.DataFrame, nuts: dict, seed: int, priors: tuple
) -> tuple[dict[str, np.ndarray], dict[str, bl.Fit]]:
    """(c) the joint model under each of ``priors`` (names of `JOINT_PRIORS`): (P(class 1) of the
    test items, the fits)."""
    predictions, fits = {}, {}
    for prior_name in priors:
        prior, extra = JOINT_PRIORS[prior_name]
        name = f"(c) joint model, {prior_name}"
        spec = bl.ModelSpec(model=LFC, priors=prior)
        fits[name] = bl.fit(
            train, model=spec, features=x_train, use_gold=False, seed=seed, quiet=True, **nuts, **extra
        )
        predictions[name] = fits[name].predict_items(x_test).mean[:, 1]
    return predictions, fits


def _fold_record(fold: int, train_ids: list, test_ids: list, ds: bl.Fit, joints: dict, chosen: dict) -> dict:
    record: dict[str, Any] = {
        "fold": fold,
        "train_items": len(train_ids),
        "test_items": len(test_ids),
        "ds_check": str(ds.check().verdict),
        "c": chosen,
    }
    for name, fit in joints.items():
        record[f"{name}: check"] = str(fit.check().verdict)
        if "weight_scale" in fit.model.named_vars:
            record[f"{name}: weight_scale"] = round(float(fit.draws("weight_scale").mean()), 4)
    return record


def rte_setup() -> tuple[bl.Annotations, pd.DataFrame, np.ndarray]:
    ann = bl.datasets.load("rte")
    items = pd.read_csv(bl.datasets.paths("rte")["items"], dtype=str, keep_default_na=False).set_index("item")
    return ann, items, np.asarray(ann.items, dtype=object)


def rte(folds: int, nuts: dict, components: int, c: float, n_boot: int, seed: int = 0) -> dict:
    """Held-out items, all annotators: ``folds``-fold cross-fitting over items."""
    ann, items, ids = rte_setup()
    fold_of = np.random.default_rng(seed).permutation(len(ids)) % folds
    predictions: dict[str, dict[str, float]] = {}
    records = []
    for fold in range(folds):
        train_ids, test_ids = list(ids[fold_of != fold]), list(ids[fold_of == fold])
        train = ann.subset(train_ids).drop_unlabelled()  # the test items' labels never enter a fit
        x_train, x_test = rte_features(items, train_ids, test_ids, components, seed)
        started = time.perf_counter()
        two_stage, chosen, ds = two_stage_arms(train, train_ids, x_train, x_test, nuts, c, seed)
        joint, fits = joint_arms(train, x_train, x_test, nuts, seed, tuple(JOINT_PRIORS))
        for name, p1 in {**two_stage, **joint}.items():
            predictions.setdefault(name, {}).update(dict(zip(test_ids, p1, strict=True)))
        records.append(_fold_record(fold, train_ids, test_ids, ds, fits, chosen))
        records[-1]["seconds"] = round(time.perf_counter() - started, 1)
        print(records[-1], flush=True)
        if fold == 0:
            coefficients = {
                name: fit.coefficients()
                .query("`class` == '1'")
                .drop(columns="class")
                .round(3)
                .to_dict("records")
                for name, fit in fits.items()
            }
    return {
        "folds": records,
        "features": list(x_train.columns),
        "c": c,
        **_all_arms(predictions, ann.gold_series(), n_boot),
        "coefficients_fold0": coefficients,
    }


def _annotator_groups(ann: bl.Annotations, seed: int) -> tuple[list[str], list[str]]:
    """The annotators in two random halves."""
    order = np.random.default_rng(seed).permutation(ann.n_annotators)
    names = np.asarray(ann.annotators, dtype=object)
    return list(names[order[: ann.n_annotators // 2]]), list(names[order[ann.n_annotators // 2 :]])


def _labels_of(ann: bl.Annotations, items: list[str], annotators: list[str]) -> bl.Annotations:
    """The labels that ``annotators`` gave to ``items`` (items they did not label are dropped)."""
    frame = ann.to_frame()[["item", "annotator", "label"]]
    frame = frame[frame["item"].isin(items) & frame["annotator"].isin(annotators)]
    return bl.Annotations.from_frame(frame, classes=list(ann.classes))


def rte_leave_annotators_out(nuts: dict, components: int, c: float, n_boot: int, seed: int = 0) -> dict:
    """Two variants in which annotators are left out.

    1. Disjoint annotators: items in halves I₁, I₂, annotators in halves A, B; fit on A's labels
       of I₁ and predict I₂ from features alone (I₂'s would-be labellers are B, none of whom the
       fit saw), then fit on B's labels of I₂ and predict I₁. Every item is scored once.
    2. Half the annotators removed: fit on all items with A's labels only; score the soft labels
       (labels + features for the joint model; Dawid–Skene's and majority vote's from labels
       alone) of every item against gold.
    """
    ann, items, ids = rte_setup()
    group_a, group_b = _annotator_groups(ann, seed + 1)
    half = np.random.default_rng(seed + 1).permutation(len(ids)) % 2
    predictions: dict[str, dict[str, float]] = {}
    records = []
    for fit_half, annotators in ((0, group_a), (1, group_b)):
        train_ids, test_ids = list(ids[half == fit_half]), list(ids[half != fit_half])
        train = _labels_of(ann, train_ids, annotators)
        train_ids = list(train.items)  # items none of the group labelled have no targets: left out
        x_train, x_test = rte_features(items, train_ids, test_ids, components, seed)
        two_stage, chosen, ds = two_stage_arms(train, train_ids, x_train, x_test, nuts, c, seed)
        joint, fits = joint_arms(train, x_train, x_test, nuts, seed, LAO_PRIORS)
        for name, p1 in {**two_stage, **joint}.items():
            predictions.setdefault(name, {}).update(dict(zip(test_ids, p1, strict=True)))
        records.append(_fold_record(fit_half, train_ids, test_ids, ds, fits, chosen))
        records[-1]["labels_per_train_item"] = round(float(train.labels_per_item.mean()), 2)
        print(records[-1], flush=True)
    disjoint = {"folds": records, **_all_arms(predictions, ann.gold_series(), n_boot)}

    halved = _labels_of(ann, list(ids), group_a)
    x_all, _ = rte_features(items, list(halved.items), list(halved.items)[:1], components, seed)
    soft: dict[str, dict[str, float]] = {
        "majority vote": _p1(bl.majority_vote(halved, seed=seed).soft_labels()),
        "Dawid–Skene": _p1(
            bl.fit(halved, model="dawid-skene", use_gold=False, seed=seed, quiet=True, **nuts).soft_labels()
        ),
    }
    for prior_name in LAO_PRIORS:
        prior, extra = JOINT_PRIORS[prior_name]
        spec = bl.ModelSpec(model=LFC, priors=prior)
        fit = bl.fit(
            halved, model=spec, features=x_all, use_gold=False, seed=seed, quiet=True, **nuts, **extra
        )
        soft[f"joint model, {prior_name}"] = _p1(fit.soft_labels())
    removed = {
        "items": halved.n_items,
        "labels_per_item": round(float(halved.labels_per_item.mean()), 2),
        **_all_arms(soft, ann.gold_series(), n_boot, joint_prefix="joint model"),
    }
    return {"annotators": [len(group_a), len(group_b)], "disjoint": disjoint, "half_removed": removed}


def _p1(soft: bl.SoftLabels) -> dict[str, float]:
    frame = soft.to_frame()
    return dict(zip(frame["item"].astype(str), frame["p_1"], strict=True))


def _all_arms(predictions: dict, gold: pd.Series, n_boot: int, joint_prefix: str = "(c)") -> dict:
    """Each arm's metrics, and each joint arm − each other arm (paired bootstrap, 95 %)."""
    targets = {name: _soft(pd.Index(list(p)), np.array(list(p.values()))) for name, p in predictions.items()}
    joints = [name for name in targets if name.startswith(joint_prefix)]
    others = [name for name in targets if name not in joints]
    comparisons = {
        baseline: _differences(
            bl.compare_targets(
                {baseline: targets[baseline], **{j: targets[j] for j in joints}},
                gold.loc[list(predictions[baseline])],
                ci_prob=0.95,
                n_boot=n_boot,
                seed=0,
            )
        )
        for baseline in others
    }
    if len(joints) > 1:  # the joint priors against each other (the later − the first)
        comparisons[joints[0]] = _differences(
            bl.compare_targets(
                {j: targets[j] for j in joints},
                gold.loc[list(predictions[joints[0]])],
                ci_prob=0.95,
                n_boot=n_boot,
                seed=0,
            )
        )
    return {"comparisons": comparisons}


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
    lines = [
        "| metric | target | target value | baseline value | target − baseline | 95 % interval |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in sorted(records, key=lambda r: (r["metric"], r["target"])):
        lines.append(
            f"| {r['metric']} | {r['target']} | {r['target_estimate']:.3f} | {r['baseline_estimate']:.3f} | "
            f"{r['difference']:+.3f} | [{r['lo']:+.3f}, {r['hi']:+.3f}] |"
        )
    return lines


def _levels(comparisons: dict) -> list[str]:
    """One row per arm: its accuracy, log-loss and Brier score."""
    values: dict[str, dict[str, float]] = {}
    for records in comparisons.values():
        for r in records:
            values.setdefault(r["baseline"], {})[r["metric"]] = r["baseline_estimate"]
            values.setdefault(r["target"], {})[r["metric"]] = r["target_estimate"]
    lines = ["| arm | accuracy | log-loss | Brier |", "|---|---:|---:|---:|"]
    for arm, v in sorted(values.items()):
        lines.append(f"| {arm} | {v['accuracy']:.3f} | {v['log_loss']:.4f} | {v['brier']:.4f} |")
    return lines


def _comparison_sections(comparisons: dict, what: str) -> list[str]:
    lines = ["", "All arms:", ""] + _levels(comparisons)
    for baseline, records in comparisons.items():
        lines += ["", f"**Against {baseline}** (paired bootstrap over {what}):", ""] + _table(records)
    return lines


def _folds_table(folds: list[dict]) -> list[str]:
    keys = [k for k in folds[0] if k not in ("fold", "c")]
    lines = [
        "| fold | " + " | ".join(keys) + " | C by inner CV (matched C = 2) |",
        "|---" * (len(keys) + 2) + "|",
    ]
    for f in folds:
        chosen = "; ".join(f"{name}: {c:g}" for name, c in f["c"].items() if "inner CV" in name)
        lines.append(f"| {f['fold']} | " + " | ".join(str(f[k]) for k in keys) + f" | {chosen} |")
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
        "Joint-model priors on the weights W (`bl.LearningFromCrowdsPriors`): **fixed scale** "
        "W ~ ZeroSumNormal(1) (`weight_scale=1`); **learned scale** a global τ ~ HalfNormal(1), "
        "W = τ·Z, Z ~ ZeroSumNormal(1) (`weight_scale_prior=1`); **horseshoe** a regularised "
        "horseshoe on top of τ, slab 2 (`weight_scale_prior=1, horseshoe_slab=2`, fitted with "
        "target_accept 0.95).",
        "",
    ]
    if "simulated" in result:
        lines += [
            "## Simulated data (features → class → annotators)",
            "",
            "500 items, 20 annotators (per-class accuracy 0.6–0.85), 5 standard normal features, weights "
            "drawn from a zero-sum normal of sd 1 (the fixed-scale prior), 1–4 labels per item; NUTS "
            "for the joint model and for Dawid–Skene. Coverage is of the free coordinate of each "
            "(zero-sum) weight and of each confusion row (K = 2).",
        ]
        for name, s in result["simulated"]["by_prior"].items():
            lines += [
                "",
                f"### Joint model, {name}",
                "",
                f"- 90 % intervals of W cover the truth for **{s['w_coverage']:.1%}** of {s['w_intervals']} "
                f"weights; of the confusion entries for **{s['confusion_coverage']:.1%}** of "
                f"{s['confusion_intervals']}.",
                "",
                "| seed | items with 1–2 labels | W coverage | confusion coverage | accuracy 1–2 labels: "
                "joint | Dawid–Skene | all items: joint | Dawid–Skene | joint check ok | joint fit s |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
            ]
            for r in s["per_seed"]:
                lines.append(
                    f"| {r['seed']} | {r['items_1_2_labels']} | {r['w_coverage']:.2f} | "
                    f"{r['confusion_coverage']:.2f} | "
                    f"{r['accuracy_1_2_lfc']:.3f} | {r['accuracy_1_2_ds']:.3f} | "
                    f"{r['accuracy_all_lfc']:.3f} | "
                    f"{r['accuracy_all_ds']:.3f} | {r['lfc_check_ok']} | {r['lfc_seconds']} |"
                )
            lines += ["", "Items with 1–2 labels, pooled over seeds, joint model vs Dawid–Skene:", ""]
            lines += _table(s["items_1_2_labels_comparison"])
        lines += [""]
    if "rte" in result:
        r = result["rte"]
        lines += [
            "## rte: predictions for items whose labels were all held out",
            "",
            f"3-fold cross-fitting over the 800 items: each fold's fits see the other folds' crowd labels "
            f"only (gold never enters a fit); every item is scored once against its expert gold. Features "
            f"({len(r['features'])}, the same for every arm): TF-IDF of text + hypothesis → TruncatedSVD "
            "(20 components, fitted on the training items' text only), six word-overlap features and "
            "thirteen further lexical ones (stem overlap, novel content words and their IDF mass, IDF-"
            "weighted coverage, novel numbers and names, Jaccard, negation and hedging on each side, "
            "lengths; IDF from the training items' text). Two-stage arms: L2 logistic regression on "
            f"standardised features, trained on soft targets as weighted rows, with C = {r['c']} "
            "(*matched*: the log-odds prior variance of the fixed-scale joint model, W ~ ZeroSumNormal(1)) "
            "or C chosen by 5-fold *inner CV* on the training items' own targets (cross-entropy; grid "
            "10^-3 … 10; gold never used).",
            "",
        ]
        lines += _folds_table(r["folds"])
        lines += _comparison_sections(r["comparisons"], "the 800 gold items")
        for name, rows in r["coefficients_fold0"].items():
            lines += ["", f"{name}: weights for class 1 (fold 0), per sd of each feature:", ""]
            lines += ["| feature | weight | sd | 90 % interval |", "|---|---:|---:|---|"]
            for row in rows:
                lines.append(
                    f"| {row['feature']} | {row['weight']:+.3f} | {row['weight_sd']:.3f} | "
                    f"[{row['weight_lo']:+.3f}, {row['weight_hi']:+.3f}] |"
                )
        lines += [""]
    if "rte_leave_annotators_out" in result:
        r = result["rte_leave_annotators_out"]
        lines += [
            "## rte, leave annotators out",
            "",
            f"The 164 annotators in two random halves A and B ({r['annotators'][0]} and "
            f"{r['annotators'][1]}).",
            "",
            "### 1. Disjoint annotators: held-out items from features alone",
            "",
            "Items in two random halves I₁, I₂. Fit on A's labels of I₁, predict I₂ from features "
            "alone (I₂'s labellers would be B, none of whom any fit of this pass saw); then fit on B's "
            "labels of I₂ and predict I₁. Every item is scored once against gold; the joint model "
            "needs no annotator at prediction time, the two-stage arms are as above.",
            "",
        ]
        lines += _folds_table(r["disjoint"]["folds"])
        lines += _comparison_sections(r["disjoint"]["comparisons"], "the 800 gold items")
        h = r["half_removed"]
        lines += [
            "",
            "### 2. Half the annotators removed: soft labels of the labelled items",
            "",
            f"Fit on A's labels only ({h['items']} items keep a label, {h['labels_per_item']} labels "
            "per item on average); each item's soft label (labels + features for the joint model, "
            "labels alone for Dawid–Skene and majority vote) scored against gold.",
        ]
        lines += _comparison_sections(h["comparisons"], f"the {h['items']} gold items")
        lines += [""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer draws and seeds (a quick look)")
    parser.add_argument("--part", choices=["sim", "rte", "lao", "all"], default="all")
    args = parser.parse_args()
    nuts = (
        {"draws": 300, "tune": 300, "chains": 2} if args.fast else {"draws": 1000, "tune": 1000, "chains": 4}
    )
    n_boot = 500 if args.fast else 2000
    settings = {"nuts": nuts, "n_boot": n_boot, "fast": args.fast}
    result: dict = {"machine": machine_info(), "settings": settings}
    out = RESULTS / "learning_from_crowds.json"
    parts = {"sim": "simulated", "rte": "rte", "lao": "rte_leave_annotators_out"}
    if out.exists() and args.part != "all":  # keep the other parts' numbers
        previous = json.loads(out.read_text())
        result.update({key: previous[key] for key in parts.values() if key in previous})
    started = time.perf_counter()

    def write() -> None:  # after each part, so a failure later keeps what was measured
        result["seconds"] = round(time.perf_counter() - started, 1)
        out.write_text(json.dumps(result, indent=2, default=str))
        (RESULTS / "learning_from_crowds.md").write_text(markdown(result))

    if args.part in ("rte", "all"):
        result["rte"] = rte(3, nuts, components=20, c=2.0, n_boot=n_boot)
        write()
    if args.part in ("lao", "all"):
        result["rte_leave_annotators_out"] = rte_leave_annotators_out(
            nuts, components=20, c=2.0, n_boot=n_boot
        )
        write()
    if args.part in ("sim", "all"):
        seeds = [0, 1] if args.fast else [0, 1, 2, 3, 4]
        sim_priors = {name: JOINT_PRIORS[name] for name in SIM_PRIORS}
        result["simulated"] = simulated(seeds, nuts, n_boot, sim_priors)
        write()
    print(markdown(result))


if __name__ == "__main__":
    main()
