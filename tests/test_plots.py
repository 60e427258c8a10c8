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


def test_agreement_heatmap(rte, tmp_path):
    report = bl.agreement(rte, n_boot=50)
    ax = _draw(bl.plots.plot_agreement, report, max_annotators=12)
    image = ax.get_images()[0].get_array()
    assert image.shape == (12, 12) and np.ma.getmaskarray(image).diagonal().all()
    assert np.nanmax(np.abs(image)) <= 1
    ax.figure.savefig(tmp_path / "agreement.png")
    assert (tmp_path / "agreement.png").stat().st_size > 1000
    _draw(bl.plots.plot_agreement, rte)  # from the annotations directly


def test_annotator_profile_scatter(rte):
    ax = _draw(bl.plots.plot_annotator_profiles, rte)
    points = ax.collections[-1].get_offsets()
    assert len(points) == rte.n_annotators and ax.get_xlabel() == "positive bias"
    many = bl.datasets.load("dog")
    ax = _draw(bl.plots.plot_annotator_profiles, bl.annotator_profiles(many))
    assert ax.get_xscale() == "log"  # more than two classes: by volume
    with pytest.raises(ValueError, match="not a column"):
        bl.plots.plot_annotator_profiles(many, x="speed")


def test_reliability_diagram(rte):
    votes = bl.majority_vote(rte)
    ax = _draw(bl.plots.plot_reliability, votes, rte.gold, label="majority vote")
    table = bl.calibration_table(votes, rte.gold)
    points = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(points[:, 0], table["confidence"])
    np.testing.assert_allclose(points[:, 1], table["accuracy"])
    assert "ECE" in ax.get_legend().get_texts()[-1].get_text()


def test_pr_curve_with_interval_band(rte):
    votes = bl.majority_vote(rte)
    ax = _draw(bl.plots.plot_pr_curve, votes, rte.gold, n_boot=100)
    assert len(ax.lines) == 1 and len(ax.collections) == 1  # one curve (positive class '1'), one band
    assert ax.get_legend().get_texts()[0].get_text() == "1"
    music = bl.datasets.load("music_genre")
    ax = _draw(bl.plots.plot_pr_curve, bl.majority_vote(music), music.gold, n_boot=50)
    assert len(ax.lines) == music.n_classes  # one-vs-rest per class


def test_interpolated_precision_is_the_best_precision_at_or_beyond_each_recall():
    recall = np.array([[0.25, 0.5, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0]])
    precision = np.array([[1.0, 0.5, 0.8, 0.4], [0.3, 0.6, 0.5, 0.2]])
    grid = np.array([0.0, 0.3, 0.5, 0.9, 1.0])
    expected = np.array([[1.0, 0.8, 0.8, 0.4, 0.4], [0.6, 0.6, 0.6, 0.5, 0.5]])
    np.testing.assert_allclose(_interpolated_precision(recall, precision, grid), expected)
