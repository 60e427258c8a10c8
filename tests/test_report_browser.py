"""The report in a real browser: headless Chromium (installed by scripts/test.sh from the
system's package manager) loads the report of a bundled dataset from disk, with no console
message and no script error, every figure decoded to a non-empty image; its screenshot is
docs/figures/report.png, which the README shows. Skipped, with the reason, without Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import bayeslabels as bl  # noqa: E402
from bayeslabels._io import atomic_write  # noqa: E402

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "report.png"
BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless Chromium (scripts/test.sh installs it with apt-get where it can)"
)

# Injected first in <head> of a copy of the page: records script errors and failed loads, and
# once the page has loaded writes what it found into the DOM, where --dump-dom shows it.
PROBE = """<script>
window.__problems = [];
window.addEventListener("error", function (e) {
  window.__problems.push(e.message ? String(e.message) : "failed to load " + (e.target && e.target.tagName));
}, true);
window.addEventListener("load", function () {
  var images = document.images, empty = [];
  for (var i = 0; i < images.length; i++) {
    var image = images[i];
    if (!(image.complete && image.naturalWidth > 0 && image.naturalHeight > 0)) empty.push(image.alt);
  }
  var table = document.querySelector("table.sortable"), sorted = null;
  if (table) {  // click the third header: its column's sort keys must then ascend
    table.tHead.rows[0].cells[2].click();
    var keys = Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return parseFloat(row.cells[2].getAttribute("data-sort"));
    });
    sorted = keys.every(function (k, i) { return i === 0 || keys[i - 1] <= k; })
      && keys[0] < keys[keys.length - 1];
  }
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(
    {images: images.length, empty: empty, problems: window.__problems, sorted: sorted});
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def load_in_browser(page: Path) -> dict:
    """Open ``page`` in headless Chromium: the probe's findings plus ``console``, every
    console message Chromium logged (the report logs none)."""
    probed = page.with_name(page.stem + ".probed.html")
    probed.write_text(
        page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8"
    )
    run = _chromium(
        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert found, f"the page did not finish loading in Chromium: {run.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    result["console"] = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return result


def test_the_probe_sees_script_errors_console_messages_and_empty_images(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<img alt="bad" src="data:image/png;base64,AAAA">'
        '<script>console.error("boom"); notDefined();</script></body></html>',
        encoding="utf-8",
    )
    result = load_in_browser(page)
    assert result["empty"] == ["bad"]
    assert any("notDefined" in p for p in result["problems"])
    assert any("boom" in line for line in result["console"])
    assert result["sorted"] is None  # no sortable table here


def test_report_loads_cleanly_in_chromium_and_is_screenshot(tmp_path):
    fit = bl.fit(bl.datasets.load("bluebirds"), method="em", use_gold=False)
    page = bl.report(fit, tmp_path / "report.html", n_boot=200)
    result = load_in_browser(page)
    assert result["problems"] == [] and result["console"] == []
    assert result["images"] == 6 and result["empty"] == []  # every figure decoded, non-empty
    assert result["sorted"] is True  # the annotator table sorts on a click
    shot = tmp_path / "report.png"
    run = _chromium(f"--screenshot={shot}", "--window-size=1280,2200", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    atomic_write(SCREENSHOT, lambda tmp: shutil.copyfile(shot, tmp))
