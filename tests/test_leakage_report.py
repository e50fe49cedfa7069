"""The report's cross-modal leakage table and heat map, from report entries of the modality study."""

import pytest

from clearbench.errors import UserError
from clearbench.report.entries import ReportEntry
from clearbench.report.plots import png_bytes
from clearbench.report.privacy import leakage_figure, leakage_of, leakage_table


def metrics(captions: float, faces: float, text: float) -> dict:
    return {
        "tasks": {
            "forget_captions": {"prob": captions, "rouge": 0.5},
            "forget_facerec": {"prob": faces, "rouge": 0.5},
            "tofu_forget": {"prob": text, "rouge": 0.5},
        }
    }


def study() -> list[ReportEntry]:
    return [
        ReportEntry("target", "target", metrics=metrics(0.9, 0.8, 0.7)),
        ReportEntry("gold", "gold", metrics=metrics(0.1, 0.3, 0.2)),
        ReportEntry("npo@images", "unlearned", "npo", "images", metrics=metrics(0.1, 0.3, 0.6)),
        ReportEntry("npo@text", "unlearned", "npo", "text", metrics=metrics(0.8, 0.8, 0.2)),
        ReportEntry("npo@both", "unlearned", "npo", "both", metrics=metrics(0.5, 0.55, 0.45)),
        ReportEntry("ga@images", "unlearned", "ga", "images", metrics=metrics(0.5, 0.8, 0.7)),
        ReportEntry("ga@text", "unlearned", "ga", "text", status="failed"),
    ]


def test_leakage_table_rows_per_method_and_forget_modality():
    table = leakage_table(leakage_of(study()))
    assert table.name == "leakage"
    assert table.header == [
        "method",
        "forgot through",
        "removed: captions",
        "removed: face naming",
        "removed: text QA",
    ]
    assert table.rows == [
        ["npo", "images", "1.00", "1.00", "0.20"],  # images gone, text QA mostly still there
        ["npo", "text", "0.12", "0.00", "1.00"],  # (0.9 − 0.8) / 0.8
        ["npo", "both", "0.50", "0.50", "0.50"],
        ["ga", "images", "0.50", "0.00", "0.00"],
    ]
    assert "(m_target − m_model) / (m_target − m_gold)" in table.note and "n/a" not in table.note


def test_no_modality_study_no_leakage_section():
    only_both = [e for e in study() if e.modality in (None, "both")]
    assert leakage_of(only_both) == [] and leakage_table([]) is None and leakage_figure([]) is None
    assert leakage_of([e for e in study() if e.kind != "gold"]) == []


def test_a_probe_without_a_gap_is_na_with_the_reason():
    entries = study()
    entries[1].metrics = metrics(0.1, 0.79, 0.2)  # gold knows the faces as well as the target
    table = leakage_table(leakage_of(entries))
    assert [row[3] for row in table.rows] == ["n/a"] * 4
    assert "face naming: target and gold differ by 0.01 (< 0.02): nothing to remove" in table.note


def test_leakage_heat_map_one_panel_per_method():
    figure = leakage_figure(leakage_of(study()))
    panels = [axes for axes in figure.axes if axes.get_title()]
    assert [axes.get_title() for axes in panels] == ["npo", "ga"]
    assert [t.get_text() for t in panels[1].get_yticklabels()] == ["forgot images"]
    assert [t.get_text() for t in panels[0].texts][:3] == ["1.00", "1.00", "0.20"]
    assert png_bytes(figure).startswith(b"\x89PNG")


def test_another_score_and_bad_settings():
    [npo, ga] = leakage_of(study(), score="rouge", min_gap=0.01)
    assert npo.cells["images"]["captions"] is None  # ROUGE 0.5 everywhere: no gap
    with pytest.raises(UserError, match="leakage score 'nll'"):
        leakage_of(study(), score="nll")


def test_the_whole_section_in_one_call():
    from clearbench.report.privacy import privacy_section

    tables, figures = privacy_section(study())
    assert [t.name for t in tables] == ["leakage"]  # no membership results in these entries
    assert [name for name, _, _ in figures] == ["leakage.png"]
    assert privacy_section([e for e in study() if e.modality in (None, "both")]) == ([], [])
