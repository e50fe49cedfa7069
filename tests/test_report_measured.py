"""Probe and leak@k records get tables of their own and stay out of the robustness table."""

from __future__ import annotations

from clearbench.report.measured import leak_table, probe_table, split_measured


def layers(accuracy, interval=None):
    return {
        "tasks": {
            "tofu_forget": {"layers": {"3": {"accuracy": accuracy, "interval": interval, "chance": 0.25}}}
        }
    }


PROBE = {
    "model": "npo",
    "attack": "probe",
    "probe": {
        "model": layers(0.3, [0.2, 0.4]),
        "target": layers(0.5),
        "gold": layers(0.25),
        "residual_share": {"tofu_forget": {"3": {"share": 0.2, "interval": [-0.1, 0.6]}}},
    },
}
LEAK = {
    "model": "gd",
    "attack": "leak",
    "leak": {
        "model": {"leak_at_k": 0.05, "interval": [0.0, 0.1], "questions": 40},
        "target": {"leak_at_k": 0.44, "interval": [0.38, 0.5]},
        "gold": {"leak_at_k": 0.11, "interval": [0.07, 0.16]},
    },
}
SCORED = {"model": "gd", "attack": "queries", "variant": "queries-noise"}


def test_measures_are_split_from_the_scored_attacks():
    assert split_measured([SCORED, PROBE, LEAK]) == ([SCORED], [PROBE, LEAK])


def test_probe_and_leak_tables_show_each_model_beside_target_and_gold():
    probes = probe_table([PROBE, LEAK])
    assert probes.rows == [
        ["npo", "tofu_forget", "3", "0.300 [0.20, 0.40]", "0.500", "0.250", "0.250", "0.200 [-0.10, 0.60]"]
    ]
    assert leak_table([PROBE, LEAK]).rows == [
        ["gd", "0.050 [0.00, 0.10]", "0.440 [0.38, 0.50]", "0.110 [0.07, 0.16]", "40"]
    ]
    assert probe_table([SCORED]) is None and leak_table([SCORED]) is None


def test_the_report_writes_them_apart_from_robustness(tmp_path):
    from test_report import sample_entries

    from clearbench.report import build_report

    build_report(sample_entries(tmp_path), tmp_path / "report", attacks=[PROBE, LEAK])
    written = {path.name for path in (tmp_path / "report").iterdir()}
    assert {"probes.csv", "leak.csv"} <= written and "robustness.csv" not in written
