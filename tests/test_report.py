"""The HTML report: one self-contained file (no network), every section that applies, figures
embedded as real PNGs, a sortable annotator table with flags, written atomically; also from
the command line, for a saved fit and for labels with gold."""

from __future__ import annotations

import base64
import re
import struct
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bayeslabels as bl  # noqa: E402
from bayeslabels.cli import main  # noqa: E402


class _Page(HTMLParser):
    """What a test reads off the page: sections, images, tables, links."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs)
        for name in ("src", "href"):
            if name in attrs and not attrs[name].startswith(("data:", "#")):
                self.urls.append(attrs[name])
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "section": self.sections[-1], "rows": []})
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self._row = None

    def table(self, section: str, index: int = 0) -> list[list[str]]:
        return [t for t in self.tables if t["section"] == section][index]["rows"]


def _png_size(image: dict[str, str]) -> tuple[int, int]:
    data = base64.b64decode(image["src"].split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def flipped():
    """60 items, 5 annotators: four agree with the truth 90 % of the time, 'flipper-0001' gives
    the other class 85 % of the time (below chance)."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 60)
    rows = []
    for i, z in enumerate(truth):
        for a in range(4):
            rows.append((f"q{i}", f"good-{a}", z if rng.random() < 0.9 else 1 - z))
        rows.append((f"q{i}", "flipper-0001", 1 - z if rng.random() < 0.85 else z))
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    gold = pd.DataFrame({"item": [f"q{i}" for i in range(30)], "gold": truth[:30]})
    return frame, gold


def test_report_of_a_fit_is_self_contained_with_every_section(em_fit, tmp_path):
    path = bl.report(em_fit, tmp_path / "report.html", n_boot=50, route_budget=25)
    assert path == tmp_path / "report.html" and not list(tmp_path.glob(".report.html.*"))
    text = path.read_text(encoding="utf-8")
    page = _Page(text)
    assert page.sections == [
        "data",
        "agreement",
        "annotators",
        "convergence",
        "predictive",
        "uncertain",
        "routing",
    ]  # no gold, no subtypes in this data: those sections are left out
    assert page.urls == [] and "http://" not in text and "https://" not in text  # nothing fetched
    assert len(page.images) == 5  # κ heatmap, profiles, predictive check, soft labels, routing plan
    for image in page.images:
        width, height = _png_size(image)
        assert width > 100 and height > 100 and image["alt"]
    annotators = page.table("annotators")
    assert len(annotators) == 1 + em_fit.annotations.n_annotators
    assert annotators[0][0].startswith("annotator") and annotators[0][-1].startswith("flags")
    assert [t["class"] for t in page.tables if t["section"] == "annotators"] == ["sortable"]
    routing = page.table("routing")
    assert len(routing) == 1 + 25
    uncertain = page.table("uncertain")
    assert len(uncertain) == 1 + 25 and "×" in uncertain[1][1]  # the labels each item got
    assert "point estimate (no sampling to check)" in text
    assert em_fit.annotations.data_hash in text and bl.__version__ in text  # provenance at the foot
    assert text.index('id="provenance"') > text.index('id="routing"')


def test_report_flags_an_annotator_below_chance(flipped, tmp_path):
    frame, _ = flipped
    ann = bl.Annotations.from_frame(frame)
    for source in (ann, bl.fit(ann, method="em")):
        page = _Page(bl.report(source, tmp_path / "r.html", n_boot=20).read_text(encoding="utf-8"))
        rows = page.table("annotators")[1:]
        flags = {row[0]: row[-1] for row in rows}
        assert flags["flipper-0001"] == "below chance"
        assert all(flags[f"good-{a}"] == "" for a in range(4))
        assert rows[0][0] == "flipper-0001"  # flagged first


def test_report_of_labels_and_gold_from_the_command_line(flipped, tmp_path, capsys):
    frame, gold = flipped
    frame.to_csv(tmp_path / "labels.csv", index=False)
    gold.to_csv(tmp_path / "gold.csv", index=False)
    out = tmp_path / "report.html"
    code = main(
        [
            "report",
            str(tmp_path / "labels.csv"),
            "--gold",
            str(tmp_path / "gold.csv"),
            "--out",
            str(out),
            "--n-boot",
            "50",
        ]
    )
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    page = _Page(out.read_text(encoding="utf-8"))
    assert "gold" in page.sections and "convergence" not in page.sections  # labels alone: no fit
    evaluation = page.table("gold")
    assert {row[0] for row in evaluation[1:]} == {"majority vote"}
    assert any(row[1] == "accuracy" and re.match(r"[01]\.\d{3} \[", row[2]) for row in evaluation[1:])
    assert len(page.images) == 5  # κ heatmap, profiles, reliability diagram, PR curve, soft labels
    assert "30 gold items" in out.read_text(encoding="utf-8")


def test_report_of_a_saved_fit_from_the_command_line(em_fit, tmp_path, capsys):
    saved = em_fit.save(tmp_path / "fit-01")
    out = tmp_path / "report.html"
    assert main(["report", str(saved), "--out", str(out), "--n-boot", "20", "--top-items", "5"]) == 0
    page = _Page(out.read_text(encoding="utf-8"))
    assert "convergence" in page.sections and len(page.table("uncertain")) == 1 + 5
    assert str(saved) in out.read_text(encoding="utf-8")  # the source, in the provenance


def test_report_refuses_what_it_cannot_do(flipped, tmp_path, capsys):
    ann = bl.Annotations.from_frame(flipped[0])
    with pytest.raises(bl.DataError, match="route_budget needs a fit"):
        bl.report(ann, tmp_path / "r.html", route_budget=10)
    with pytest.raises(bl.DataError, match="does not exist"):
        bl.report(ann, tmp_path / "missing" / "r.html")
    with pytest.raises(bl.DataError, match="report\\(\\) takes"):
        bl.report(42, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    assert main(["report", str(tmp_path / "nothing.csv"), "--out", str(tmp_path / "r.html")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no such file or directory" in error


def test_report_flags_drift_and_speed_from_timestamps(tmp_path):
    """'drifter' agrees with the others for their first half of the items and then gives the
    other class; 'hasty' labels one item a second, the others one a minute."""
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 80)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for i, z in enumerate(truth):
        for a in range(3):
            rows.append((f"q{i}", f"steady-{a}", z, start + pd.Timedelta(minutes=i)))
        rows.append((f"q{i}", "drifter", z if i < 40 else 1 - z, start + pd.Timedelta(minutes=i)))
        rows.append((f"q{i}", "hasty", z, start + pd.Timedelta(seconds=i)))
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label", "timestamp"])
    ann = bl.Annotations.from_frame(frame, timestamp="timestamp")
    page = _Page(bl.report(ann, tmp_path / "r.html", n_boot=20).read_text(encoding="utf-8"))
    header, *rows_ = page.table("annotators")
    assert "drift" in header and any(h.startswith("share < 2 s") for h in header)
    flags = {row[0]: row[-1] for row in rows_}
    assert "drift" in flags["drifter"] and flags["hasty"] == "too fast"
    assert all(flags[f"steady-{a}"] == "" for a in range(3))
