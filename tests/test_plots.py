"""Figures draw headless (Agg), onto the axes given or new ones, and return those axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import bayeslabels as bl  # noqa: E402
from bayeslabels.plots import _interpolated_precision  # noqa: E402


@pytest.fixture(scope="module")
def rte():
    return bl.datasets.load("rte")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _draw(function, *args, **kwargs):
    """Draw onto given axes (must come back) and onto none (a new figure's axes)."""
    ax = Figure().add_subplot()
    assert function(*args, ax=ax, **kwargs) is ax
    fresh = function(*args, **kwargs)
    assert fresh is not ax and fresh.figure is not None
    return ax


def _tick_ids(labels):
    """The ids on an axis, wrapped lines joined back."""
    return [t.get_text().replace("\n", "") for t in labels]


def test_agreement_heatmap(rte, tmp_path):
    report = bl.agreement(rte, n_boot=50)
    ax = _draw(bl.plots.plot_agreement, report, max_annotators=12)
    image = ax.get_images()[0].get_array()
    assert image.shape == (12, 12) and np.ma.getmaskarray(image).diagonal().all()
    assert np.nanmax(np.abs(image)) <= 1
    assert "12 of 164 annotators" in ax.get_title()  # a top-N cut is stated, with the total
    ax.figure.savefig(tmp_path / "agreement.png")
    assert (tmp_path / "agreement.png").stat().st_size > 1000
    _draw(bl.plots.plot_agreement, rte)  # from the annotations directly


def test_agreement_heatmap_shows_everyone_in_full_and_no_data_apart_from_zero(rte):
    report = bl.agreement(rte, n_boot=20)
    assert "the 40 of 164 annotators" in bl.plots.plot_agreement(report).get_title()  # the default cut
    ax = bl.plots.plot_agreement(report, min_overlap=21, max_annotators=None)
    names = _tick_ids(ax.get_yticklabels())
    assert len(names) == rte.n_annotators and "all 164 annotators" in ax.get_title()
    assert set(names) == set(rte.annotators) and max(map(len, names)) > 10  # ids never cut
    image = ax.get_images()[0].get_array()
    pairs = report.pairwise.set_index(["annotator_a", "annotator_b"])["n_items"]
    position = {name: i for i, name in enumerate(names)}
    few = pairs[pairs < 21].index[0]  # a pair sharing items, but too few for a κ
    assert np.ma.getmaskarray(image)[position[few[0]], position[few[1]]]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "no data (< 21 shared items)"
    hatch = ax.patches[0]  # drawn under the image: masked cells show it, not a κ colour
    assert hatch.get_hatch() and hatch.get_zorder() < ax.get_images()[0].get_zorder()


def test_agreement_heatmap_orders_annotators_by_agreement(rte):
    report = bl.agreement(rte, n_boot=20)
    ax = bl.plots.plot_agreement(report, max_annotators=30, order="mean")
    means = np.ma.masked_invalid(ax.get_images()[0].get_array()).mean(axis=1).filled(-np.inf)
    assert (np.diff(means) <= 1e-12).all()  # highest mean κ first
    clustered = bl.plots.plot_agreement(report, max_annotators=30)
    assert "clustered" in clustered.get_title()
    assert _tick_ids(clustered.get_yticklabels()) != _tick_ids(ax.get_yticklabels())


def test_annotator_profile_scatter(rte):
    ax = _draw(bl.plots.plot_annotator_profiles, rte)
    points = ax.collections[1].get_offsets()
    assert len(points) == rte.n_annotators and ax.get_xlabel().startswith("positive bias")
    many = bl.datasets.load("dog")
    ax = _draw(bl.plots.plot_annotator_profiles, bl.annotator_profiles(many))
    assert ax.get_xscale() == "log"  # more than two classes: by volume
    with pytest.raises(ValueError, match="not a column"):
        bl.plots.plot_annotator_profiles(many, x="speed")


def test_annotator_profile_scatter_names_the_extremes(rte):
    profiles = bl.annotator_profiles(rte)
    ax = bl.plots.plot_annotator_profiles(profiles, label_extremes=3)
    named = {t.get_text() for t in ax.texts}
    worst = profiles.nsmallest(3, "accuracy")["annotator"]
    bias = profiles.set_index("annotator")["positive_bias"].abs()
    third = bias.nlargest(3).iloc[-1]
    assert set(worst) <= named and set(bias[bias > third].index) <= named and len(named) <= 6
    assert all(bias[name] >= third for name in named - set(worst))  # ties at the third: any of them
    for text in ax.texts:  # each name sits on its own point
        row = profiles[profiles["annotator"] == text.get_text()].iloc[0]
        assert text.xy == pytest.approx((row["positive_bias"], row["accuracy"]))


def test_reliability_diagram(rte):
    votes = bl.majority_vote(rte)
    ax = _draw(bl.plots.plot_reliability, votes, rte.gold, label="majority vote")
    table = bl.calibration_table(votes, rte.gold)
    points = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(points[:, 0], table["confidence"])
    np.testing.assert_allclose(points[:, 1], table["accuracy"])
    assert "ECE" in ax.get_legend().get_texts()[-1].get_text()


def test_reliability_diagram_spans_the_possible_confidences_with_a_margin(rte):
    votes = bl.majority_vote(rte)
    ax = bl.plots.plot_reliability(votes, rte.gold)
    left, right = ax.get_xlim()
    assert 0.45 <= left < 0.5 and right > 1.0  # two classes: confidence lies in [0.5, 1]
    assert not ax.collections[-1].get_clip_on()  # a marker at 1 is drawn whole
    assert "0.5 … 1 for 2 classes" in ax.get_xlabel()
    music = bl.datasets.load("music_genre")
    ax = bl.plots.plot_reliability(bl.majority_vote(music), music.gold)
    assert ax.get_xlim()[0] < 1 / music.n_classes + 1e-9


def test_pr_curve_with_interval_band(rte):
    votes = bl.majority_vote(rte)
    ax = _draw(bl.plots.plot_pr_curve, votes, rte.gold, n_boot=100, label="majority vote")
    assert len(ax.lines) == 1 and len(ax.collections) == 1  # one curve (positive class '1'), one band
    ap = bl.evaluate(votes, rte.gold, n_boot=10).value("pr_auc", "1")
    assert ax.get_legend().get_texts()[0].get_text() == f"majority vote: positive class '1' (AP {ap:.3f})"
    music = bl.datasets.load("music_genre")
    ax = _draw(bl.plots.plot_pr_curve, bl.majority_vote(music), music.gold, n_boot=50)
    assert len(ax.lines) == music.n_classes  # one-vs-rest per class
    assert ax.get_legend().get_texts()[0].get_text().startswith(f"'{music.classes[0]}' vs rest (AP ")


def test_soft_label_intervals_take_a_fit_and_show_every_class():
    dog = bl.datasets.load("dog")
    fit = bl.fit(dog, method="em", use_gold=False)
    ax = bl.plots.plot_soft_label_intervals(fit, max_items=300)
    soft = fit.soft_labels()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [c for c in soft.classes if (soft.label[:] == c).any()] and len(legend) == 4
    shown = np.concatenate([line.get_ydata() for line in ax.lines if line.get_label() in legend])
    assert len(shown) == 300 and set(np.round(shown, 9)) <= set(np.round(soft.mean.max(axis=1), 9))
    assert ax.get_ylabel() == "P(most probable class)" and "highest entropy first" in ax.get_xlabel()
    one = bl.plots.plot_soft_label_intervals(fit, cls="2", max_items=50)
    assert one.get_ylabel() == "P(class = 2)" and one.get_legend() is None
    with pytest.raises(ValueError, match="one of the classes"):
        bl.plots.plot_soft_label_intervals(fit, cls="9")


def test_interpolated_precision_is_the_best_precision_at_or_beyond_each_recall():
    recall = np.array([[0.25, 0.5, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0]])
    precision = np.array([[1.0, 0.5, 0.8, 0.4], [0.3, 0.6, 0.5, 0.2]])
    grid = np.array([0.0, 0.3, 0.5, 0.9, 1.0])
    expected = np.array([[1.0, 0.8, 0.8, 0.4, 0.4], [0.6, 0.6, 0.6, 0.5, 0.5]])
    np.testing.assert_allclose(_interpolated_precision(recall, precision, grid), expected)
