"""`bl.average_soft_labels`: soft labels of a weighted mixture of fits' class posteriors.

EM fits where the test is about the arithmetic; the session NUTS fit where it is about draws.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayeslabels as bl


@pytest.fixture(scope="module")
def rte_em_fits() -> dict[str, bl.Fit]:
    ann = bl.datasets.load("rte")
    return {m: bl.fit(ann, method="em", model=m, use_gold=False) for m in ("dawid-skene", "one-coin")}


def test_the_mean_is_the_weighted_mean_of_the_fits_means(rte_em_fits):
    soft = bl.average_soft_labels(rte_em_fits, weights={"dawid-skene": 3, "one-coin": 1})
    ds, one_coin = (rte_em_fits[m].soft_labels().mean for m in ("dawid-skene", "one-coin"))
    np.testing.assert_allclose(soft.mean, 0.75 * ds + 0.25 * one_coin, atol=1e-12)
    np.testing.assert_allclose(soft.mean.sum(axis=1), 1.0)


def test_point_estimates_give_no_interval_and_every_item_is_kept(rte_em_fits):
    soft = bl.average_soft_labels(rte_em_fits)
    ann = rte_em_fits["dawid-skene"].annotations
    assert soft.ci_prob is None
    np.testing.assert_array_equal(soft.lower, soft.mean)
    np.testing.assert_array_equal(soft.upper, soft.mean)
    frame = soft.to_frame()
    assert list(frame["item"]) == list(ann.items)
    assert "dawid-skene 0.50" in soft.meaning and "one-coin 0.50" in soft.meaning


def test_a_fit_with_weight_zero_changes_nothing(rte_em_fits):
    soft = bl.average_soft_labels(rte_em_fits, weights={"dawid-skene": 1.0})
    np.testing.assert_allclose(soft.mean, rte_em_fits["dawid-skene"].soft_labels().mean, atol=1e-12)
    assert "one-coin" not in soft.meaning


def test_a_self_calibrated_fit_enters_tempered(rte_em_fits):
    calibrated = bl.self_calibrate(rte_em_fits["dawid-skene"])
    soft = bl.average_soft_labels({"tempered": calibrated.fit})
    np.testing.assert_allclose(soft.mean, calibrated.soft_labels().mean, atol=1e-12)
    assert not np.allclose(soft.mean, rte_em_fits["dawid-skene"].soft_labels().mean)


def test_the_self_calibration_itself_enters_as_its_tempered_fit(rte_em_fits):
    calibrated = bl.self_calibrate(rte_em_fits["dawid-skene"])
    mixed = bl.average_soft_labels({"tempered": calibrated, "one-coin": rte_em_fits["one-coin"]})
    expected = bl.average_soft_labels({"tempered": calibrated.fit, "one-coin": rte_em_fits["one-coin"]})
    np.testing.assert_allclose(mixed.mean, expected.mean, atol=1e-12)


def test_a_sampled_fit_averaged_with_itself_keeps_its_mean_and_interval(nuts_fit):
    own = nuts_fit.soft_labels(ci_prob=0.9)
    soft = bl.average_soft_labels({"a": nuts_fit, "b": nuts_fit}, ci_prob=0.9)
    assert soft.ci_prob == 0.9
    np.testing.assert_allclose(soft.mean, own.mean, atol=1e-12)
    # 1000 of its 4000 draws, thinned evenly (twice): the quantiles move by Monte Carlo error only
    for bound in ("lower", "upper"):
        moved = np.abs(getattr(soft, bound) - getattr(own, bound))
        assert moved.mean() < 0.01, (bound, moved.mean())
        assert moved.max() < 0.15, (bound, moved.max())


def test_the_mixture_interval_spans_the_disagreement_between_fits(nuts_fit, em_fit):
    soft = bl.average_soft_labels({"nuts": nuts_fit, "em": em_fit}, ci_prob=0.9)
    nuts_mean, em_mean = nuts_fit.soft_labels().mean, em_fit.soft_labels().mean
    far_apart = np.abs(nuts_mean - em_mean) > 0.3
    assert far_apart.any()
    # half the pooled draws sit at EM's point: the 5-95 % interval reaches it
    assert (soft.lower[far_apart] <= em_mean[far_apart] + 1e-6).all()
    assert (soft.upper[far_apart] >= em_mean[far_apart] - 1e-6).all()
    assert (soft.lower <= soft.mean).all() and (soft.mean <= soft.upper).all()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"dawid-skene": -1.0, "one-coin": 1.0}, "finite and ≥ 0"),
        ({"dawid-skene": float("nan")}, "finite and ≥ 0"),
        ({"dawid-skene": 0.0, "one-coin": 0.0}, "sum to 0"),
        ({"mace": 1.0}, "not given: \\['mace'\\]"),
    ],
)
def test_bad_weights_are_named(rte_em_fits, weights, message):
    with pytest.raises(bl.DataError, match=message):
        bl.average_soft_labels(rte_em_fits, weights=weights)


def test_fits_that_cannot_be_averaged_are_refused(rte_em_fits, em_fit):
    with pytest.raises(bl.DataError, match="at least one fit"):
        bl.average_soft_labels({})
    with pytest.raises(bl.DataError, match="'x' is a str, not a Fit"):
        bl.average_soft_labels({"x": "soft.parquet"})
    with pytest.raises(bl.DataError, match="'sim' was fitted to other labels than 'dawid-skene'"):
        bl.average_soft_labels({**rte_em_fits, "sim": em_fit})
    anchored = bl.fit(rte_em_fits["dawid-skene"].annotations, method="em", use_gold=True)
    with pytest.raises(bl.DataError, match="'anchored' used gold and 'dawid-skene' did not"):
        bl.average_soft_labels({**rte_em_fits, "anchored": anchored})


def test_export_average_writes_the_mixture_with_each_fits_provenance(rte_em_fits, tmp_path):
    out = bl.export_average(rte_em_fits, tmp_path / "soft.parquet", weights={"dawid-skene": 1, "one-coin": 3})
    written = bl.SoftLabels.read(out)
    expected = bl.average_soft_labels(rte_em_fits, weights={"dawid-skene": 1, "one-coin": 3})
    np.testing.assert_allclose(written.mean, expected.mean, atol=1e-12)
    record = bl.read_provenance(out)
    assert [(fit["name"], fit["weight"]) for fit in record["averaged"]] == [
        ("dawid-skene", 0.25),
        ("one-coin", 0.75),
    ]
    assert record["averaged"][1]["model"]["model"] == "one-coin"
    assert record["soft_label_meaning"] == expected.meaning


def test_cli_average_exports_saved_fits_and_names_bad_arguments(rte_em_fits, tmp_path, capsys):
    from bayeslabels.cli import main

    dirs = [str(rte_em_fits[m].save(tmp_path / m)) for m in ("dawid-skene", "one-coin")]
    out = tmp_path / "soft.csv"
    assert main(["average", *dirs, "--weights", "2,2", "--out", str(out)]) == 0
    assert "(800 items, averaged over 2 fits)" in capsys.readouterr().out
    written = bl.SoftLabels.read(out)
    np.testing.assert_allclose(written.mean, bl.average_soft_labels(rte_em_fits).mean, atol=1e-9)
    assert len(written.items) == 800

    for argv, message in [
        ([*dirs, "--weights", "1"], "--weights has 1 value(s) for 2 fit(s)"),
        ([*dirs, "--weights", "1,x"], "not numbers"),
        ([dirs[0], dirs[0]], "given more than once"),
        ([dirs[0], str(tmp_path)], "not a saved bayeslabels fit"),
    ]:
        assert main(["average", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
