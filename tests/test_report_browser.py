"""report.html in a real browser at 1280 px: the headline table fits, every image loads, nothing logs an
error, and a click on a header sorts the methods. Headless Chromium runs a probe script injected into a
copy of the page and writes what it found into the DOM, which --dump-dom returns (no extra package)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from test_report import sample_entries
from test_report_headline import attack_record

from clearbench.report import build_report

# Installed first in <head>: errors of any later script (the page's sorter included) are kept.
CATCH = """<script>
window.probeErrors = [];
window.addEventListener("error", function (e) { window.probeErrors.push(String(e.message)); });
var consoleError = console.error;
console.error = function () { window.probeErrors.push(Array.from(arguments).join(" ")); consoleError.apply(console, arguments); };
</script>"""
# Run after the page loaded: measures, clicks the Forget header twice, reports.
PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.getElementById("headline"), root = document.documentElement;
  var order = function () {
    return Array.from(table.tBodies[table.tBodies.length - 1].rows).map(function (r) { return r.dataset.entry; });
  };
  var header = table.querySelector('th[data-col="forget"]'), before = order();
  header.click(); var up = order(); header.click(); var down = order();
  var result = {
    width: window.innerWidth,
    tableRight: table.getBoundingClientRect().right,
    tableOverflow: table.scrollWidth - table.clientWidth,
    pageOverflow: root.scrollWidth - root.clientWidth,
    images: Array.from(document.images).map(function (i) { return i.complete && i.naturalWidth > 0; }),
    errors: window.probeErrors, before: before, up: up, down: down
  };
  var out = document.createElement("pre"); out.id = "probe"; out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


@pytest.mark.skipif(chromium() is None, reason="no chromium on PATH (.ci/run installs it)")
def test_headline_fits_1280px_images_load_no_errors_and_headers_sort(tmp_path):
    records = [
        attack_record("ga@both", "relearn", 0.05, [0.0, 0.1]),
        attack_record("npo@text", "relearn", 0.5, [0.3, 0.7]),
    ]
    page = build_report(sample_entries(tmp_path), tmp_path / "report", attacks=records, config={"m": 1})
    text = page.read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("<head>", "<head>" + CATCH, 1).replace("</body>", PROBE + "</body>"))
    run = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert found, run.stdout[-2000:]
    result = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert result["width"] == 1280
    assert result["tableRight"] <= 1280 and result["tableOverflow"] <= 0 and result["pageOverflow"] <= 0
    assert len(result["images"]) == 4 and all(result["images"])  # fq_vs_utility, tasks, training, leakage
    assert result["errors"] == []
    # Forget: ga 0.0, npo 0.29, rmu / dpo none (empty cells sort last); the references stay on top.
    assert result["before"] == ["ga@both", "npo@text", "rmu@images", "dpo@both"]
    assert result["up"][:2] == ["ga@both", "npo@text"] and result["down"][:2] == ["npo@text", "ga@both"]
