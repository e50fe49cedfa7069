"""`clearbench compare` on two tiny runs that differ in one setting: run folders written from metric
records (the comparison reads config.yaml, runs.json and metrics/ only, as `clearbench report`)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from clearbench.cli import main
from clearbench.errors import UserError
from clearbench.report import ReportEntry
from clearbench.report.run_dir import write_runs


def metrics(utility, span, ks=0.2, ks_span=(0.1, 0.3)):
    return {
        "retain": 0.5,
        "forget": 0.1,
        "model_utility": utility,
        "forget_quality_ks_statistic": ks,
        "intervals": {
            "method": "bootstrap over people",
            "values": {"model_utility": list(span), "forget_quality_ks_statistic": list(ks_span)},
        },
    }


def write_run(folder, learning_rate, npo_utility, npo_span):
    folder.mkdir()
    # a resolved config as a run saves it, cut to a few sections
    config = {
        "forget_split": "forget10",
        "unlearn": {"methods": ["ga", "npo"], "learning_rate": learning_rate, "epochs": 5},
        "report": {"retain_fail_threshold": 0.4},
        "selection": {"rule": "fq_at_utility", "utility_fraction": 0.95},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    entries = [
        ReportEntry("gold", "gold", metrics=metrics(0.45, (0.4, 0.5), 0.0, (0.0, 0.0))),
        ReportEntry("target", "target", metrics=metrics(0.46, (0.41, 0.51), 0.4, (0.3, 0.5))),
        ReportEntry("ga", "unlearned", "ga", "both", metrics=metrics(0.30, (0.25, 0.35))),
        ReportEntry("npo", "unlearned", "npo", "both", metrics=metrics(npo_utility, npo_span)),
    ]
    write_runs(folder, entries)
    (folder / "metrics").mkdir()
    for entry in entries:
        (folder / "metrics" / f"{entry.name}.json").write_text(json.dumps(entry.metrics))
    return folder


def test_compare_lists_the_one_differing_setting_and_marks_changes_beyond_intervals(tmp_path, capsys):
    a = write_run(tmp_path / "lr-low", 1e-5, 0.40, (0.36, 0.44))
    # npo's utility interval moves clear of run a's (beyond); ga's numbers are the same
    b = write_run(tmp_path / "lr-high", 1e-4, 0.20, (0.15, 0.25))
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    assert "compare.html" in capsys.readouterr().out
    out = tmp_path / "cmp"
    md = (out / "compare.md").read_text()
    assert "| unlearn.learning\\_rate | 1e-05 | 0.0001 |" in md
    settings = md.split("## Settings that differ")[1].split("##")[0]
    assert settings.count("\n| ") == 3  # header, rule, the one setting
    assert (
        "| npo | model utility ↑ | 0.400 [0.36, 0.44] | 0.200 [0.15, 0.25] | lr-high: beyond intervals ↓ |"
        in md
    )
    assert "| ga | model utility ↑ | 0.300 [0.25, 0.35] | 0.300 [0.25, 0.35] | lr-high: same |" in md
    html = (out / "compare.html").read_text()
    assert re.findall(r'data-entry="(\w+)"', html) == ["gold", "target", "ga", "npo"]
    assert '<td class="beyond" title="beyond intervals ↓">0.200 [0.15, 0.25]</td>' in html
    assert html.count('class="beyond"') == 1
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG" and "data:image/png;base64," in html


def test_overlapping_intervals_are_within_and_missing_ones_are_said(tmp_path):
    from clearbench.report.compare import change
    from clearbench.report.leaderboard import leaderboard_rows

    def row(utility, span):
        entry = ReportEntry(
            "x", "unlearned", metrics=metrics(utility, span) if span else {"model_utility": utility}
        )
        return leaderboard_rows([entry])[0]

    assert change(row(0.4, (0.3, 0.5)), row(0.45, (0.35, 0.55)), "model_utility") == "within intervals"
    assert change(row(0.4, (0.3, 0.5)), row(0.6, (0.51, 0.7)), "model_utility") == "beyond intervals ↑"
    assert change(row(0.4, None), row(0.6, (0.51, 0.7)), "model_utility") == "changed ↑ (no interval)"


def test_compare_needs_two_run_folders(tmp_path, capsys):
    assert main(["compare", str(tmp_path)]) == 2
    assert "at least two run directories" in capsys.readouterr().err


def test_a_config_that_is_not_a_mapping_is_named(tmp_path):
    from clearbench.report.compare import load_run

    folder = write_run(tmp_path / "run", 1e-5, 0.4, (0.3, 0.5))
    (folder / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(UserError, match="config.yaml: not a clearbench run's config"):
        load_run(folder)
