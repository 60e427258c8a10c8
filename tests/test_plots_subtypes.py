"""Figures for subtypes, soft labels and routing: drawn on given axes or fresh figures,
titled and labelled, and saved as non-empty PNGs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import bayeslabels as bl  # noqa: E402
from bayeslabels import plots  # noqa: E402


@pytest.fixture(scope="module")
def comparison(subtype_fit):
    return bl.compare_subtypes(subtype_fit)


def _saved(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    assert path.stat().st_size > 5000
    return path


def test_subtype_forest_on_given_axes(comparison, tmp_path):
    fig, ax = plt.subplots()
    assert plots.plot_subtype_forest(comparison, ax=ax) is ax
    assert ax.get_title() == "Population accuracy by subtype"
    assert {t.get_text() for t in ax.get_yticklabels()} == {"s0", "s1", "s2"}
    _saved(fig, tmp_path, "forest")


def test_heatmap_confusions_intervals_and_routing_on_fresh_figures(comparison, subtype_fit, tmp_path):
    ax = plots.plot_annotator_subtype_heatmap(comparison)
    assert "annotator and subtype" in ax.get_title() and ax.get_xlabel() == "subtype"
    _saved(ax.figure, tmp_path, "heatmap")

    axes = plots.plot_confusion_matrices(comparison)
    assert [a.get_title() for a in axes] == ["subtype s0", "subtype s1", "subtype s2"]
    _saved(axes[0].figure, tmp_path, "confusions")

    ax = plots.plot_soft_label_intervals(subtype_fit.soft_labels(), max_items=50)
    assert ax.get_ylabel() == "P(class = 1)" and len(ax.lines) >= 1
    _saved(ax.figure, tmp_path, "intervals")

    plan = bl.route(subtype_fit, budget=40)
    ax = plots.plot_routing_plan(plan)
    assert ax.get_title().startswith("Routing plan: 40 labels")
    _saved(ax.figure, tmp_path, "routing")


def test_compare_and_route_from_the_command_line(subtype_fit, tmp_path, capsys):
    import pandas as pd

    from bayeslabels.cli import main

    saved = subtype_fit.save(tmp_path / "fit")
    assert (
        main(["compare", str(saved), "--plots", str(tmp_path / "out"), "--out", str(tmp_path / "cmp.csv")])
        == 0
    )
    out = capsys.readouterr().out
    assert "s0 vs s1" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "annotator_subtype_heatmap.png",
        "subtype_confusions.png",
        "subtype_forest.png",
    ]
    assert (tmp_path / "cmp_annotators.csv").exists()

    assert main(["route", str(saved), "--budget", "30", "--out", str(tmp_path / "plan.csv")]) == 0
    plan = pd.read_csv(tmp_path / "plan.csv", dtype=str)
    assert len(plan) == 30 and "wrote" in capsys.readouterr().out


def _comparison(subtypes, annotators, accuracy):
    """A SubtypeComparison made by hand: population and annotator rows (the figures' data)."""
    import numpy as np
    import pandas as pd

    from bayeslabels.compare import SubtypeComparison

    population = pd.DataFrame(
        {
            "subtype": subtypes,
            "metric": "accuracy",
            "mean": np.linspace(0.8, 0.9, len(subtypes)),
            "lo": np.linspace(0.75, 0.85, len(subtypes)),
            "hi": np.linspace(0.85, 0.95, len(subtypes)),
        }
    )
    rows = [(a, s) for a in annotators for s in subtypes]
    table = pd.DataFrame(
        {
            "annotator": [a for a, _ in rows],
            "subtype": [s for _, s in rows],
            "accuracy": accuracy,
            "n_labels": np.arange(len(rows))[::-1] + 1,
        }
    )
    return SubtypeComparison(population, pd.DataFrame(), table, pd.DataFrame(), ci_prob=0.9)


def test_subtype_forest_of_two_subtypes_has_no_empty_rows():
    two = _comparison(["violent", "sexual"], ["a"], [0.8, 0.9])
    ax = plots.plot_subtype_forest(two)
    low, high = ax.get_ylim()
    assert high - low <= 2.3  # two rows, a small margin: no band of empty space
    assert ax.figure.get_figheight() < 2.5
    many = _comparison([f"s{i}" for i in range(8)], ["a"], [0.8] * 8)
    assert plots.plot_subtype_forest(many).figure.get_figheight() > ax.figure.get_figheight()
    left, right = ax.get_xlim()
    assert left < 0.75 and right > 0.95 and right - left < 0.3  # fitted to the intervals


def test_annotator_subtype_heatmap_scale_fits_the_data_and_ids_are_whole():
    ids = ["annotator-with-a-very-long-identifier-0001", "b", "c"]
    accuracy = [0.91, 0.93, 0.95, 0.97, 0.92, float("nan")]
    comparison = _comparison(["s0", "s1"], ids, accuracy)
    ax = plots.plot_annotator_subtype_heatmap(comparison)
    image = ax.get_images()[0]
    assert image.norm.vmin == pytest.approx(0.91) and image.norm.vmax == pytest.approx(0.97)
    assert image.cmap.name.startswith("viridis") and len(ax.figure.axes) == 2  # a colour bar
    assert {t.get_text().replace("\n", "") for t in ax.get_yticklabels()} == set(ids)
    assert "all 3" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["no estimate"]  # the NaN cell
    assert plots.plot_annotator_subtype_heatmap(comparison, max_annotators=2).get_title().count("2 of 3")


def test_report_of_a_per_subtype_fit_shows_reliability_by_subtype(subtype_fit, tmp_path):
    text = bl.report(subtype_fit, tmp_path / "report.html", n_boot=20, top_items=5).read_text(
        encoding="utf-8"
    )
    subtypes = text[
        text.index('<section id="subtypes">') : text.index("</section>", text.index('id="subtypes"'))
    ]
    assert 'alt="Subtype forest plot"' in subtypes and 'alt="Annotator by subtype reliability"' in subtypes
    assert all(f'<td data-sort="s{i}">s{i}</td>' in subtypes for i in range(3))  # one row per subtype
    convergence = text[text.index('<section id="convergence">') :]
    assert "chains × 500 draws" in convergence and "R-hat" in convergence  # a sampled fit: the table
