"""The hand-off to a training job: `to_training_frame`, the duplicated-row form scikit-learn
needs, and the NumPy reference losses (`soft_target_xent`, `bootstrapped_xent`).

No NUTS here: fits are EM point estimates, and a posterior with spread is made by drawing
parameters around the EM estimate (what `Fit` reads from a sampler's DataTree)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.optimize import minimize
from scipy.stats import entropy

import bayeslabels as bl
from bayeslabels.training import agreement_weight, target_classes


@pytest.fixture(scope="module")
def sim() -> bl.simulate.SimulatedData:
    """120 items, 10 annotators, K = 3, items with ids that look like numbers ('007')."""
    data = bl.simulate.dawid_skene(n_items=120, n_annotators=10, n_classes=3, labels_per_item=(1, 5), seed=3)
    frame = data.annotations.to_frame()
    frame["item"] = frame["item"].str.replace("item", "0", regex=False)  # '0007': never parse ids
    ann = bl.Annotations.from_frame(frame, classes=list(data.annotations.classes))
    return replace(data, annotations=ann)


@pytest.fixture(scope="module")
def em_fit(sim) -> bl.Fit:
    return bl.fit(sim.annotations, method="em", quiet=True)


@pytest.fixture(scope="module")
def posterior_fit(em_fit) -> bl.Fit:
    """A two-chain, 100-draw posterior around the EM estimate (Dirichlet draws), so the soft
    labels have credible intervals of honest width without running a sampler."""
    rng = np.random.default_rng(0)
    em = em_fit.em
    chains, draws = 2, 100
    prevalence = rng.dirichlet(200 * em.prevalence + 1, size=(chains, draws))
    confusion = rng.dirichlet(np.ones(em.confusion.shape[-1]), size=(chains, draws, *em.confusion.shape[:-1]))
    for j, k in np.ndindex(em.confusion.shape[:-1]):  # small loops: builds a test posterior
        confusion[:, :, j, k] = rng.dirichlet(30 * em.confusion[j, k] + 0.5, size=(chains, draws))
    ann = em_fit.annotations
    posterior = xr.Dataset(
        {
            "prevalence": (("chain", "draw", "true_class"), prevalence),
            "confusion": (("chain", "draw", "annotator", "true_class", "label_class"), confusion),
        },
        coords={
            "chain": np.arange(chains),
            "draw": np.arange(draws),
            "annotator": list(ann.annotators),
            "true_class": list(ann.classes),
            "label_class": list(ann.classes),
        },
    )
    return replace(em_fit, posterior=xr.DataTree.from_dict({"posterior": posterior}), method="nuts")


def _p_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("p_")]


# --------------------------------------------------------------------------- to_training_frame


def test_training_frame_keeps_every_item_in_input_order(em_fit):
    frame = bl.to_training_frame(em_fit)
    ann = em_fit.annotations
    assert list(frame.columns) == ["item", "p_0", "p_1", "p_2", "label", "weight"]
    assert frame["item"].tolist() == list(ann.items)
    assert frame["item"].iloc[0].startswith("0")  # ids stay strings
    assert target_classes(frame) == list(ann.classes)


def test_probabilities_sum_to_one_and_label_is_the_argmax(em_fit):
    frame = bl.to_training_frame(em_fit)
    probs = frame[_p_columns(frame)].to_numpy()
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert frame["label"].tolist() == [str(c) for c in np.asarray(em_fit.classes)[probs.argmax(axis=1)]]
    np.testing.assert_allclose(probs, em_fit.soft_labels().to_frame()[_p_columns(frame)].to_numpy())


def test_fit_and_em_result_give_the_same_targets(em_fit, sim):
    from_fit = bl.to_training_frame(em_fit, weight="agreement")
    from_em = bl.to_training_frame(bl.dawid_skene_em(sim.annotations), weight="agreement")
    pd.testing.assert_frame_equal(from_fit, from_em, check_exact=False, atol=1e-8)


def test_no_weight_is_one(em_fit):
    assert (bl.to_training_frame(em_fit)["weight"] == 1.0).all()


def test_agreement_weight_is_one_minus_normalised_entropy(em_fit):
    frame = bl.to_training_frame(em_fit, weight="agreement")
    probs = frame[_p_columns(frame)].to_numpy()
    expected = 1 - entropy(probs, axis=1) / np.log(3)
    np.testing.assert_allclose(frame["weight"].to_numpy(), expected, atol=1e-12)
    assert frame["weight"].between(0, 1).all()


def test_agreement_weight_ends_certain_one_and_uniform_zero():
    weights = agreement_weight(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]))
    np.testing.assert_allclose(weights, [1.0, 0.0, 1 - np.log(2) / np.log(3)], atol=1e-12)


def test_interval_weight_is_one_minus_the_width_of_the_hard_labels_interval(posterior_fit):
    frame = bl.to_training_frame(posterior_fit, weight="interval", ci_prob=0.8)
    soft = posterior_fit.soft_labels(ci_prob=0.8).to_frame()
    rows = np.arange(len(soft))
    code = soft[["p_0", "p_1", "p_2"]].to_numpy().argmax(axis=1)
    lo = soft[["p_0_lo", "p_1_lo", "p_2_lo"]].to_numpy()[rows, code]
    hi = soft[["p_0_hi", "p_1_hi", "p_2_hi"]].to_numpy()[rows, code]
    np.testing.assert_allclose(frame["weight"].to_numpy(), 1 - (hi - lo), atol=1e-12)
    assert frame["weight"].between(0, 1).all()
    assert frame["weight"].std() > 0.01  # the intervals have spread: the weight is informative
    wider = bl.to_training_frame(posterior_fit, weight="interval", ci_prob=0.95)["weight"]
    assert (wider <= frame["weight"] + 1e-12).all()  # a wider interval never weighs more


def test_interval_weight_from_a_table_built_by_hand():
    table = pd.DataFrame(
        {
            "item": ["a", "b"],
            "p_no": [0.9, 0.3],
            "p_no_lo": [0.8, 0.1],
            "p_no_hi": [0.95, 0.6],
            "p_yes": [0.1, 0.7],
            "p_yes_lo": [0.05, 0.4],
            "p_yes_hi": [0.2, 0.9],
        }
    )
    frame = bl.to_training_frame(table, weight="interval")
    assert frame["label"].tolist() == ["no", "yes"]
    np.testing.assert_allclose(frame["weight"], [1 - 0.15, 1 - 0.5])


def test_interval_weight_without_intervals_says_what_to_use(em_fit, sim):
    with pytest.raises(bl.DataError, match="weight='agreement'"):
        bl.to_training_frame(bl.dawid_skene_em(sim.annotations), weight="interval")
    with pytest.raises(bl.DataError, match="point estimate.*'nuts'"):
        bl.to_training_frame(em_fit, weight="interval")  # EM's intervals collapse: weight would be 1


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_exported_file_round_trips(posterior_fit, tmp_path, suffix):
    path = posterior_fit.export(tmp_path / f"soft_labels.{suffix}", allow_failed_check=True)
    direct = bl.to_training_frame(posterior_fit, weight="interval")
    for source in (path, str(path)):
        from_file = bl.to_training_frame(source, weight="interval")
        assert from_file["item"].tolist() == direct["item"].tolist()  # '0007' stays '0007'
        pd.testing.assert_frame_equal(from_file, direct, check_exact=False, atol=1e-8)


def test_majority_vote_keeps_its_tie_break(sim):
    mv = bl.majority_vote(sim.annotations, seed=1)
    frame = bl.to_training_frame(mv, weight="agreement")
    assert mv.tied.any()
    assert frame["label"].tolist() == [str(c) for c in np.asarray(mv.classes)[mv.label]]
    np.testing.assert_allclose(frame[["p_0", "p_1", "p_2"]].to_numpy(), mv.probabilities)


def test_a_vote_with_unlabelled_items_is_refused(sim):
    ann = sim.annotations.subset(np.arange(sim.annotations.n_items) % 2 == 0)
    with pytest.raises(bl.DataError, match="no labels.*drop_unlabelled"):
        bl.to_training_frame(bl.majority_vote(ann))


def test_float_drift_is_renormalised():
    table = pd.DataFrame({"item": ["a", "b"], "p_0": [0.3 + 4e-7, 0.5], "p_1": [0.7, 0.5 - 1e-12]})
    probs = bl.to_training_frame(table)[["p_0", "p_1"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-15)


@pytest.mark.parametrize(
    ("p_0", "p_1"),
    [
        ([0.5, 0.2], [0.5, 0.7]),  # does not sum to 1
        ([0.5, -0.1], [0.5, 1.1]),  # negative
        ([0.5, np.nan], [0.5, 0.5]),  # missing
    ],
)
def test_a_row_that_is_not_a_distribution_names_the_item(p_0, p_1):
    table = pd.DataFrame({"item": ["ok", "bad"], "p_0": p_0, "p_1": p_1})
    with pytest.raises(bl.DataError, match="item 'bad'"):
        bl.to_training_frame(table)


def test_bad_tables_and_arguments_are_clear_errors(em_fit, tmp_path):
    with pytest.raises(bl.DataError, match="'item' column"):
        bl.to_training_frame(pd.DataFrame({"p_0": [1.0], "p_1": [0.0]}))
    with pytest.raises(bl.DataError, match="one 'p_<class>' column per class"):
        bl.to_training_frame(pd.DataFrame({"item": ["a"], "p_0": [1.0]}))
    with pytest.raises(bl.DataError, match="repeats item ids.*'a'"):
        bl.to_training_frame(pd.DataFrame({"item": ["a", "a"], "p_0": [1.0, 0.0], "p_1": [0.0, 1.0]}))
    with pytest.raises(bl.DataError, match="no such soft-label file"):
        bl.to_training_frame(tmp_path / "missing.parquet")
    with pytest.raises(bl.DataError, match="not list"):
        bl.to_training_frame([[0.5, 0.5]])
    with pytest.raises(ValueError, match="weight must be"):
        bl.to_training_frame(em_fit, weight="entropy")


# --------------------------------------------------------------------------- duplicated rows


def test_expanded_rows_carry_weight_times_probability(em_fit):
    frame = bl.to_training_frame(em_fit, weight="agreement")
    rows = bl.expand_soft_targets(frame)
    assert len(rows) == 3 * len(frame)
    assert rows["item"].tolist() == list(np.repeat(frame["item"].to_numpy(), 3))
    assert rows["code"].tolist() == [0, 1, 2] * len(frame)
    per_item = rows.groupby("row")["sample_weight"].sum().to_numpy()
    np.testing.assert_allclose(per_item, frame["weight"].to_numpy())
    i = 5
    expected = frame.loc[i, "weight"] * frame.loc[i, ["p_0", "p_1", "p_2"]].to_numpy(dtype=float)
    np.testing.assert_allclose(rows.loc[rows["row"] == i, "sample_weight"], expected)


def test_sample_weighted_form_accepts_arrays_sparse_and_frames(em_fit):
    from scipy import sparse

    frame = bl.to_training_frame(em_fit)
    X = np.arange(len(frame) * 2, dtype=float).reshape(-1, 2)
    X_rep, y_rep, w_rep = bl.to_sample_weighted(frame, X)
    np.testing.assert_array_equal(X_rep[:3], np.repeat(X[:1], 3, axis=0))
    assert X_rep.shape == (3 * len(frame), 2) and y_rep.shape == w_rep.shape == (3 * len(frame),)
    sparse_rep, _, _ = bl.to_sample_weighted(frame, sparse.csr_matrix(X))
    np.testing.assert_array_equal(sparse_rep.toarray(), X_rep)
    frame_rep, _, _ = bl.to_sample_weighted(frame, pd.DataFrame(X, columns=["a", "b"]))
    np.testing.assert_array_equal(frame_rep.to_numpy(), X_rep)
    with pytest.raises(ValueError, match="align"):
        bl.to_sample_weighted(frame, X[:-1])


def _logistic_problem(k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 3))
    targets = rng.dirichlet(np.full(k, 0.7), size=80)
    frame = pd.DataFrame({"item": [f"i{i}" for i in range(80)]})
    for c in range(k):
        frame[f"p_{c}"] = targets[:, c]
    frame["weight"] = rng.uniform(0.2, 1.0, size=80)
    return X, bl.to_training_frame(frame).assign(weight=frame["weight"].to_numpy()), targets


def test_logistic_regression_on_duplicated_rows_minimises_soft_target_xent():
    """sklearn minimises ½‖β‖² + C Σ_i w_i ℓ_i; with duplicated rows ℓ_i is the soft-target
    cross-entropy. Minimising that objective directly gives the same model."""
    from sklearn.linear_model import LogisticRegression

    X, frame, targets = _logistic_problem(k=2)
    w = frame["weight"].to_numpy()
    X_rep, y_rep, w_rep = bl.to_sample_weighted(frame, X)
    clf = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X_rep, y_rep, sample_weight=w_rep)

    def objective(theta):
        logits = np.column_stack([np.zeros(len(X)), X @ theta[:3] + theta[3]])
        return 0.5 * theta[:3] @ theta[:3] + 0.5 * w.sum() * bl.soft_target_xent(logits, targets, w)

    best = minimize(objective, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(clf.coef_.ravel(), best[:3], atol=1e-5)
    np.testing.assert_allclose(clf.intercept_, best[3:], atol=1e-5)


def test_three_class_duplicated_rows_match_the_direct_minimiser():
    from sklearn.linear_model import LogisticRegression

    X, frame, targets = _logistic_problem(k=3, seed=1)
    w = frame["weight"].to_numpy()
    X_rep, y_rep, w_rep = bl.to_sample_weighted(frame, X)
    clf = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X_rep, y_rep, sample_weight=w_rep)

    def objective(theta):
        coef, intercept = theta[:9].reshape(3, 3), theta[9:]
        logits = X @ coef.T + intercept
        return 0.5 * (coef**2).sum() + 0.5 * w.sum() * bl.soft_target_xent(logits, targets, w)

    theta = minimize(objective, np.zeros(12), method="BFGS", options={"gtol": 1e-10}).x
    direct = np.exp(X @ theta[:9].reshape(3, 3).T + theta[9:])
    np.testing.assert_allclose(clf.predict_proba(X), direct / direct.sum(axis=1, keepdims=True), atol=1e-5)


def test_one_hot_duplicated_rows_equal_a_fit_on_hard_labels():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + rng.normal(size=60) > 0).astype(int)
    frame = bl.to_training_frame(pd.DataFrame({"item": np.arange(60).astype(str), "p_0": 1 - y, "p_1": y}))
    X_rep, y_rep, w_rep = bl.to_sample_weighted(frame, X)
    soft = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X_rep, y_rep, sample_weight=w_rep)
    hard = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(soft.coef_, hard.coef_, atol=1e-6)
    np.testing.assert_allclose(soft.intercept_, hard.intercept_, atol=1e-6)


# --------------------------------------------------------------------------- losses


def _softmax_loop(z):
    out = []
    for row in z:
        exps = [np.exp(v) for v in row]
        out.append([e / sum(exps) for e in exps])
    return np.array(out)


def _xent_loop(z, t, w):
    q = _softmax_loop(z)
    total = sum(w[i] * -sum(t[i][k] * np.log(q[i][k]) for k in range(len(q[i]))) for i in range(len(z)))
    return total / sum(w)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(4)
    logits = rng.normal(scale=2.0, size=(7, 4))
    targets = rng.dirichlet(np.ones(4), size=7)
    weights = rng.uniform(0.1, 2.0, size=7)
    return logits, targets, weights


def test_soft_target_xent_equals_a_brute_force_loop(arrays):
    logits, targets, weights = arrays
    assert bl.soft_target_xent(logits, targets) == pytest.approx(_xent_loop(logits, targets, np.ones(7)))
    assert bl.soft_target_xent(logits, targets, weights) == pytest.approx(
        _xent_loop(logits, targets, weights)
    )


def test_soft_target_xent_with_one_hot_targets_is_ordinary_cross_entropy(arrays):
    from sklearn.metrics import log_loss

    logits, _, weights = arrays
    codes = np.array([0, 1, 2, 3, 0, 1, 2])
    q = _softmax_loop(logits)
    expected = log_loss(codes, q, labels=range(4))
    assert bl.soft_target_xent(logits, np.eye(4)[codes]) == pytest.approx(expected, rel=1e-10)
    assert bl.soft_target_xent(logits, codes) == pytest.approx(expected, rel=1e-10)
    weighted = log_loss(codes, q, labels=range(4), sample_weight=weights)
    assert bl.soft_target_xent(logits, codes, weights) == pytest.approx(weighted, rel=1e-10)


def test_soft_target_xent_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [-1000.0, 1000.0]])
    loss = bl.soft_target_xent(logits, np.array([[0.5, 0.5], [1.0, 0.0]]))
    assert loss == pytest.approx((0.5 * 1000.0 + 2000.0) / 2)
    shifted = bl.soft_target_xent(logits + 5e5, np.array([[0.5, 0.5], [1.0, 0.0]]))
    assert shifted == pytest.approx(loss)


@pytest.mark.parametrize("mode", ["soft", "hard"])
@pytest.mark.parametrize("beta", [0.0, 0.8, 0.95])
def test_bootstrapped_xent_equals_a_brute_force_loop(arrays, mode, beta):
    logits, targets, weights = arrays
    q = _softmax_loop(logits)
    total = 0.0
    for i in range(len(logits)):
        top = max(range(4), key=lambda k: q[i][k])
        for k in range(4):
            own = q[i][k] if mode == "soft" else float(k == top)
            total += weights[i] * -(beta * targets[i][k] + (1 - beta) * own) * np.log(q[i][k])
    expected = total / weights.sum()
    assert bl.bootstrapped_xent(
        logits, targets, beta=beta, mode=mode, sample_weight=weights
    ) == pytest.approx(expected)


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_bootstrapped_xent_with_beta_one_is_soft_target_xent(arrays, mode):
    logits, targets, weights = arrays
    assert bl.bootstrapped_xent(logits, targets, beta=1.0, mode=mode, sample_weight=weights) == pytest.approx(
        bl.soft_target_xent(logits, targets, weights)
    )


def test_loss_inputs_are_checked(arrays):
    logits, targets, _ = arrays
    with pytest.raises(ValueError, match="logits must be an items × K"):
        bl.soft_target_xent(logits[0], targets)
    with pytest.raises(ValueError, match="targets must have the logits' shape"):
        bl.soft_target_xent(logits, targets[:, :3])
    with pytest.raises(bl.DataError, match="not probability distributions"):
        bl.soft_target_xent(logits, targets * 2)
    with pytest.raises(bl.DataError, match="class codes must lie in 0..3"):
        bl.soft_target_xent(logits, np.array([0, 1, 2, 3, 4, 0, 1]))
    with pytest.raises(ValueError, match="integer class codes"):
        bl.soft_target_xent(logits, np.zeros(7))
    with pytest.raises(ValueError, match="sample_weight must have one value per item"):
        bl.soft_target_xent(logits, targets, np.ones(3))
    with pytest.raises(bl.DataError, match="non-negative"):
        bl.soft_target_xent(logits, targets, -np.ones(7))
    with pytest.raises(ValueError, match="logits must be finite"):
        bl.soft_target_xent(np.full((7, 4), np.inf), targets)
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\]"):
        bl.bootstrapped_xent(logits, targets, beta=1.5)
    with pytest.raises(ValueError, match="mode must be"):
        bl.bootstrapped_xent(logits, targets, mode="both")
