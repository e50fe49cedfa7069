"""build_report end to end: the files it writes, report.html's content, and the page in a real browser."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report import metrics, sample_entries

from clearbench.errors import UserError
from clearbench.report import ReportEntry, build_report

TABLE_FILES = {
    "leaderboard.csv",
    "leaderboard.md",
    "leaderboard.tex",
    "modality.csv",
    "modality.md",
    "modality.tex",
    "leakage.csv",  # the sample is a modality study: cross-modal leakage per method
    "leakage.md",
}
PLOTS = {"fq_vs_utility.png", "tasks.png", "training.png", "leakage.png"}


class PageParser(HTMLParser):
    """Collects what the tests look at: leaderboard rows, images, external references."""

    def __init__(self):
        super().__init__()
        self.rows, self.images, self.links, self.table = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs.get("id")
        if tag == "tr" and "data-entry" in attrs:
            self.rows.append((self.table, attrs["data-entry"], attrs.get("class", "")))
        if tag == "img":
            self.images.append(attrs["src"])
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])


def parse(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    return parser


def test_build_report_writes_every_file_and_a_self_contained_page(tmp_path):
    config = {"model": "tiny", "lr": 1e-5, "note": "</pre><b>not markup</b>"}
    html_path = build_report(
        sample_entries(tmp_path), tmp_path / "report", title="Tiny <CLEAR>", config=config
    )
    out = tmp_path / "report"
    assert html_path == out / "report.html"
    assert {p.name for p in out.iterdir()} == TABLE_FILES | {"plots", "report.html"}
    assert {p.name for p in (out / "plots").iterdir()} == PLOTS
    text = html_path.read_text(encoding="utf-8")
    page = parse(text)
    leaderboard = [(name, css) for table, name, css in page.rows if table == "leaderboard"]
    assert [name for name, _ in leaderboard] == [
        "gold",
        "target",
        "ga@both",
        "npo@text",
        "rmu@images",
        "dpo@both",
    ]
    assert "set-apart" in dict(leaderboard)["ga@both"] and "set-apart" not in dict(leaderboard)["npo@text"]
    assert "reference" in dict(leaderboard)["gold"] and "set-apart" not in dict(leaderboard)["gold"]
    assert [name for table, name, _ in page.rows if table == "modality"] == [
        "gold",
        "target",
        "ga",
        "npo",
        "rmu",
        "dpo",
    ]
    # Figures are embedded byte for byte; nothing is fetched from anywhere.
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in page.images]
    assert sorted(embedded) == sorted((out / "plots" / name).read_bytes() for name in PLOTS)
    # only figures and in-page anchors (the glossary) are referenced
    assert all(src.startswith(("data:image/png;base64,", "#")) for src in page.links)
    assert not re.search(r"<link|@import|url\(", text)
    # Failures with their full reason, escaped; the configuration collapsed and escaped.
    assert "loss is NaN at step 3 &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<script>") == 1 and "<script>alert" not in text  # the one script is the sorter
    assert "Traceback:\n  out of memory &amp; 100% used_" in text
    assert re.search(r'<details id="config"><summary>show</summary><pre>\{\n  "lr": 1e-05,', text)
    assert "&lt;/pre&gt;&lt;b&gt;not markup" in text
    assert "<title>Tiny &lt;CLEAR&gt;</title>" in text


def test_rebuilding_drops_outputs_the_new_entries_have_no_data_for(tmp_path):
    out = tmp_path / "report"
    build_report(sample_entries(tmp_path), out)
    only = [ReportEntry("gold", "gold", metrics={"real": 0.5}), ReportEntry("ga", "unlearned", "ga", "both")]
    build_report(only, out)
    assert {p.name for p in out.iterdir()} == {
        "leaderboard.csv",
        "leaderboard.md",
        "leaderboard.tex",
        "plots",
        "report.html",
    }
    assert {p.name for p in (out / "plots").iterdir()} == {"fq_vs_utility.png"}
    assert 'id="modality"' not in (out / "report.html").read_text()
    assert not list(out.rglob(".*.tmp"))  # atomic writes leave no temporaries behind


def test_entries_with_odd_metrics_still_give_a_report(tmp_path):
    odd = metrics(None, None, 0.3, None, None, "high")
    odd["tasks"] = {"real_faces": {"prob": None}, "tofu_world_facts": "oops", "mystery_task": {"rouge": 0.5}}
    entries = [
        ReportEntry("gold", "gold", metrics={}),
        ReportEntry("odd", "unlearned", "ga", "text", metrics=odd),
    ]
    text = build_report(entries, tmp_path / "report").read_text()
    assert "<td>odd</td><td>n/a</td><td>n/a</td><td>0.300</td><td>n/a</td><td>n/a</td><td>n/a</td>" in text
    assert "mystery_task" in text


def test_reasons_for_missing_numbers_are_shown(tmp_path):
    entry = ReportEntry(
        "target",
        "target",
        metrics={
            "model_utility": 0.6,
            "forget_quality": None,
            "unavailable": {"forget_quality": "no gold model logs given"},
        },
    )
    text = build_report([entry], tmp_path / "report").read_text()
    assert "<li><b>target</b> forget_quality: no gold model logs given</li>" in text


TOFU_LOGS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "tofu-eval-logs"


@pytest.mark.skipif(not TOFU_LOGS.is_dir(), reason="../shared/fixtures/tofu-eval-logs is not checked out")
def test_report_of_tofus_released_logs_shows_the_golden_numbers(tmp_path):
    # TOFU's own logs (Llama-2-7B on `full` vs `retain90`): model utility 0.6227, forget quality 1.83e-21.
    from clearbench.evaluate.logs import read_eval
    from clearbench.evaluate.metrics import compute_metrics

    full = read_eval(TOFU_LOGS / "llama2-7b_full_wd0.01.json")
    retain90 = read_eval(TOFU_LOGS / "llama2-7b_retain90_wd0.01.json")
    entries = [
        ReportEntry("full", "target", metrics=compute_metrics(full, retain90)),
        ReportEntry("retain90", "gold", metrics=compute_metrics(retain90, retain90)),
    ]
    build_report(entries, tmp_path / "report")
    table = (tmp_path / "report" / "leaderboard.md").read_text().splitlines()
    # TOFU logs are the text half: its columns only (model utility, forget quality, 1 − JS).
    assert (
        table[0]
        == "| method | model utility text ↑ | forget quality text (KS p) ↑ | KS statistic text ↓ | 1 − JS text ↑ | status |"
    )
    assert table[2] == "| retain90 | 0.614 | 1.000 | 0.000 | 1.000 | reference (gold) |"
    assert table[3] == "| full | 0.623 | 1.83e-21 | 0.397 | 0.656 | reference (target) |"


def test_bad_entries_leave_the_previous_report_untouched(tmp_path):
    out = tmp_path / "report"
    build_report(sample_entries(tmp_path), out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    twice = [
        ReportEntry("npo-a", "unlearned", "npo", "text"),
        ReportEntry("npo-b", "unlearned", "npo", "text"),
        ReportEntry("ga", "unlearned", "ga", "both"),
    ]
    with pytest.raises(UserError, match="'npo-a' and 'npo-b'"):
        build_report(twice, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
