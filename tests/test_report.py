"""The report's tables: entries, number formatting, leaderboard and modality table in CSV / Markdown / LaTeX.

The hand-made entries at the top are shared with the other report tests."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from clearbench.errors import UserError
from clearbench.evaluate.metric_table import METRICS
from clearbench.report import ReportEntry, read_train_log
from clearbench.report.entries import as_number
from clearbench.report.leaderboard import (
    LEADERBOARD_KEYS,
    MODALITY_KEYS,
    format_number,
    leaderboard_columns,
    leaderboard_csv,
    leaderboard_latex,
    leaderboard_markdown,
    leaderboard_rows,
    legend,
    modality_csv,
    modality_latex,
    modality_markdown,
    modality_rows,
)

TASKS = ("forget_captions", "retain_captions", "real_faces")


def metrics(real, retain, forget, ks, js, utility, task_scale=1.0, compat="clearbench", **more):
    return {
        "compat": compat,
        "real": real,
        "retain": retain,
        "forget": forget,
        "forget_quality": ks,
        "forget_quality_js": js,
        "model_utility": utility,
        **more,
        "tasks": {
            task: {
                "rouge": 0.1 * (i + 1) * task_scale,
                "prob": 0.2 * (i + 1) * task_scale,
                "truth_ratio": 0.3 * task_scale,
                "rows": 10 + i,
            }
            for i, task in enumerate(TASKS)
        },
    }


def write_log(path: Path, losses) -> Path:
    path.write_text("".join(json.dumps({"step": i, "loss": loss}) + "\n" for i, loss in enumerate(losses)))
    return path


def sample_entries(tmp_path: Path) -> list[ReportEntry]:
    """Unlearning runs listed before the references, to check the references come first."""
    return [
        ReportEntry(
            "ga@both",
            "unlearned",
            "ga",
            "both",
            metrics=metrics(0.27, 0.05, 0.0, 1.2e-9, 0.67, 0.1, 0.5),
            train_log=write_log(tmp_path / "ga.jsonl", [2.0, 1.0, 0.0, -1.0]),
        ),
        ReportEntry("target", "target", metrics=metrics(0.48, 0.51, 0.35, 3e-5, 0.85, 0.45)),
        ReportEntry("gold", "gold", metrics=metrics(0.50, 0.51, 0.19, 1.0, 1.0, 0.47)),
        ReportEntry(
            "npo@text",
            "unlearned",
            "npo",
            "text",
            metrics=metrics(0.51, 0.4, 0.29, 0.012, 0.85, 0.44, 0.8),
            train_log=write_log(tmp_path / "npo.jsonl", [1.5, 1.2, 1.0]),
        ),
        ReportEntry(
            "rmu@images",
            "unlearned",
            "rmu",
            "images",
            status="diverged",
            error="loss is NaN at step 3 <script>alert(1)</script>",
            train_log=write_log(tmp_path / "rmu.jsonl", [1.0, 50.0, 1e4, float("nan")]),
        ),
        ReportEntry(
            "dpo@both",
            "unlearned",
            "dpo",
            "both",
            status="failed",
            error="Traceback:\n  out of memory & 100% used_",
        ),
    ]


# --- entries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"kind": "finetuned"}, ["'x'", "kind", "finetuned"]),
        ({"kind": "unlearned", "status": "crashed"}, ["'x'", "status", "crashed"]),
        ({"kind": "unlearned", "modality": "audio"}, ["'x'", "modality", "audio"]),
        ({"kind": "gold", "metrics": [0.5]}, ["'x'", "metrics", "list"]),
    ],
)
def test_bad_entry_fields_are_user_errors_naming_entry_and_field(fields, words):
    with pytest.raises(UserError) as error:
        ReportEntry("x", **fields)
    assert all(word in str(error.value) for word in words)


def test_entry_round_trips_through_dict_and_rejects_unknown_fields(tmp_path):
    entry = ReportEntry(
        "npo@text", "unlearned", "npo", "text", metrics={"real": 0.5}, train_log=tmp_path / "l.jsonl"
    )
    again = ReportEntry.from_dict(json.loads(json.dumps(entry.to_dict())))
    assert again == entry
    with pytest.raises(UserError, match="unknown field.*colour"):
        ReportEntry.from_dict({"name": "gold", "kind": "gold", "colour": "red"})


def test_metric_reads_numbers_only_and_missing_keys_are_none():
    entry = ReportEntry(
        "t",
        "target",
        metrics={
            "real": 1,
            "retain": "0.5",
            "forget": True,
            "model_utility": float("nan"),
            "tasks": {"real_faces": {"prob": 0.25}, "broken": 3},
        },
    )
    assert entry.metric("real") == 1.0
    assert [entry.metric(k) for k in ("retain", "forget", "model_utility", "absent")] == [None] * 4
    assert entry.task_metric("real_faces", "prob") == 0.25
    assert entry.task_metric("real_faces", "rouge") is None and entry.task_metric("broken", "prob") is None
    assert ReportEntry("f", "unlearned", status="failed").metric("real") is None
    assert as_number(float("inf")) == float("inf") and as_number(None) is None


def test_train_log_drops_a_truncated_last_line_and_keeps_nan_losses(tmp_path):
    log = tmp_path / "run.jsonl"
    log.write_text(
        '{"step": 0, "loss": 2.5}\n{"step": 1, "loss": NaN, "lr": 1e-3}\n{"step": 2}\n\n{"step": 3, "lo'
    )
    points = read_train_log(log)
    assert points[0] == (0, 2.5) and points[1][0] == 1 and points[1][1] != points[1][1]  # NaN
    assert len(points) == 2
    assert read_train_log(tmp_path / "missing.jsonl") == [] and read_train_log(None) == []


def test_train_log_with_garbage_inside_names_file_and_line(tmp_path):
    log = tmp_path / "run.jsonl"
    log.write_text('{"step": 0, "loss": 1}\nnot json\n{"step": 2, "loss": 1}\n')
    with pytest.raises(UserError, match=r"run\.jsonl: line 2"):
        read_train_log(log)


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, kwargs, text",
    [
        (0.51234, {}, "0.512"),
        (0.5, {"digits": 2}, "0.50"),
        (None, {}, "n/a"),
        (float("inf"), {}, "inf"),
        (1.83e-21, {"p_value": True}, "1.83e-21"),
        (0.0004, {"p_value": True}, "4.00e-04"),
        (0.0004, {}, "0.000"),
        (0.0123, {"p_value": True}, "0.012"),
        (0.0, {"p_value": True}, "0"),
        (0.0, {}, "0.000"),
        (0.004, {"p_value": True, "digits": 2}, "4.00e-03"),
    ],
)
def test_format_number(value, kwargs, text):
    assert format_number(value, **kwargs) == text


def test_table_columns_are_metrics_of_the_metric_table():
    assert set(LEADERBOARD_KEYS) | set(MODALITY_KEYS) <= set(METRICS)
    assert leaderboard_columns() == tuple(METRICS[key] for key in LEADERBOARD_KEYS)
    # Headers carry the metric's direction.
    assert [c.header() for c in leaderboard_columns()][:3] == ["Real ↑", "Retain ↑", "Forget ↓"]
    assert METRICS["forget"].latex_header() == r"Forget $\downarrow$"
    # The paper's columns are on the image tasks; the text and both-halves ones say so.
    scopes = ["images"] * 7 + ["text"] * 4 + ["both"] * 2 + ["images"] * 3 + ["text"] * 3  # then membership
    assert [METRICS[key].scope for key in LEADERBOARD_KEYS] == scopes
    assert METRICS["forget_quality_both"].header() == "forget quality, both forget sets pooled (KS p) ↑"


def test_a_scopes_columns_appear_when_some_row_has_a_value_in_it():
    paper = ["real", "retain", "forget", "forget_quality", "forget_quality_ks_statistic", "forget_quality_js"]
    paper += ["model_utility"]
    text = [
        "model_utility_text",
        "forget_quality_text",
        "forget_quality_text_ks_statistic",
        "forget_quality_text_js",
    ]
    paper_only = [ReportEntry("gold", "gold", metrics=metrics(0.5, 0.5, 0.2, 1.0, 1.0, 0.5))]
    assert leaderboard_csv(leaderboard_rows(paper_only)).splitlines()[0].split(",")[3:-3] == paper
    with_text = [
        *paper_only,
        ReportEntry("t", "target", metrics=metrics(0.5, 0.5, 0.3, 0.1, 0.8, 0.5, model_utility_text=0.62)),
    ]
    table = list(csv.DictReader(io.StringIO(leaderboard_csv(leaderboard_rows(with_text)))))
    assert list(table[0])[3:-3] == paper + text  # the whole text scope, n/a where a row lacks it
    assert (
        table[0]["model_utility_text"],
        table[1]["model_utility_text"],
        table[1]["forget_quality_text"],
    ) == (
        "",
        "0.62",
        "",
    )
    text_only = [ReportEntry("t", "target", metrics={"model_utility_text": 0.62})]
    assert leaderboard_csv(leaderboard_rows(text_only)).splitlines()[0].split(",")[3:-3] == text
    nothing = [ReportEntry("x", "unlearned", status="failed")]
    assert leaderboard_csv(leaderboard_rows(nothing)).splitlines()[0].split(",")[3:-3] == paper


def test_one_minus_js_column_and_legend_follow_the_metrics_compat_mode():
    js = {"forget_quality_js": 0.9}
    ours = [
        ReportEntry("a", "gold", metrics=js),
        ReportEntry("b", "target", metrics={"compat": "clearbench"}),
    ]
    official = [ReportEntry("a", "gold", metrics={"compat": "clear-official", **js})]
    for entries, words in ((ours, "1 − JS calibrated"), (official, "1 − JS index-aligned")):
        rows = leaderboard_rows(entries)
        table = list(csv.DictReader(io.StringIO(leaderboard_csv(rows))))
        assert table[0]["forget_quality_js"] == "0.9"  # one key, whatever the definitions
        assert words in leaderboard_markdown(rows)
    assert "the paper's Forget (its truth-ratio term rises" in leaderboard_markdown(
        leaderboard_rows(official)
    )
    # The calibrated 1 − JS comes with the range a gold-like model falls in at these row counts.
    calibration = {"forget_quality_js": {"rows": [378, 378], "bins": 4, "gold_like": [0.9312, 1.0]}}
    gold = ReportEntry("g", "gold", metrics={"forget_quality_js": 1.0, "calibration": calibration})
    expected = "A gold-like model scores, 19 times in 20: 1 − JS at 378 rows: 0.931–1."
    assert expected in leaderboard_markdown(leaderboard_rows([gold]))
    # One table compares models under one set of definitions.
    with pytest.raises(UserError, match="different metric definitions.*'clear-official' \\(e.g. 'a'\\)"):
        leaderboard_rows([*official, ReportEntry("c", "target", metrics=js)])


# --- leaderboard ------------------------------------------------------------------------------


def test_rows_put_references_first_and_flag_retain_below_threshold(tmp_path):
    rows = leaderboard_rows(sample_entries(tmp_path))
    assert [r.entry.name for r in rows] == ["gold", "target", "ga@both", "npo@text", "rmu@images", "dpo@both"]
    flags = {r.entry.name: r.fails_on_retain for r in rows}
    # Retain 0.05 < 0.4 fails; exactly 0.4 does not (the paper greys Retain < 0.4); no metrics: no flag.
    assert flags == {
        "gold": False,
        "target": False,
        "ga@both": True,
        "npo@text": False,
        "rmu@images": False,
        "dpo@both": False,
    }
    status = {r.entry.name: r.status for r in rows}
    assert status["ga@both"] == "fails on retain (Retain 0.050 < 0.4)"
    assert status["rmu@images"].startswith("diverged: loss is NaN at step 3")
    assert status["dpo@both"] == "failed: Traceback: out of memory & 100% used_"
    silent = ReportEntry("x", "unlearned", status="failed")
    assert leaderboard_rows([silent])[0].status == "failed: no reason recorded"


def test_threshold_is_a_parameter_and_none_disables_it(tmp_path):
    entries = sample_entries(tmp_path)
    strict = leaderboard_rows(entries, 0.52)
    # The line judges methods only: gold and target (Retain 0.51) are references, never failures.
    assert {r.entry.name for r in strict if r.fails_on_retain} == {"ga@both", "npo@text"}
    assert {r.entry.name: r.status for r in strict if r.reference} == {
        "gold": "reference (gold)",
        "target": "reference (target)",
    }
    assert "Gold itself is under the line (Retain 0.510 < 0.52)" in legend(strict)
    assert "Gold itself" not in legend(leaderboard_rows(entries, 0.4))
    assert not any(r.fails_on_retain for r in leaderboard_rows(entries, None))


def test_duplicate_names_are_a_user_error(tmp_path):
    with pytest.raises(UserError, match="'gold' appears twice"):
        leaderboard_rows([ReportEntry("gold", "gold"), ReportEntry("gold", "target")])


def test_csv_keeps_full_precision_and_failure_reasons(tmp_path):
    table = list(csv.DictReader(io.StringIO(leaderboard_csv(leaderboard_rows(sample_entries(tmp_path))))))
    assert list(table[0]) == [
        "method",
        "kind",
        "modality",
        "real",
        "retain",
        "forget",
        "forget_quality",
        "forget_quality_ks_statistic",
        "forget_quality_js",
        "model_utility",
        "status",
        "fails_on_retain",
        "error",
    ]
    ga = table[2]
    assert (ga["method"], ga["modality"], ga["fails_on_retain"]) == ("ga@both", "both", "true")
    assert [float(ga[k]) for k in ("real", "retain", "forget_quality", "model_utility")] == [
        0.27,
        0.05,
        1.2e-9,
        0.1,
    ]
    dpo = table[5]
    assert (dpo["status"], dpo["real"], dpo["error"]) == (
        "failed",
        "",
        "Traceback:\n  out of memory & 100% used_",
    )


def unescaped(text: str, char: str) -> int:
    return len(re.findall(rf"(?<!\\){re.escape(char)}", text))


def test_markdown_table_is_well_formed_and_marks_rows_set_apart(tmp_path):
    text = leaderboard_markdown(leaderboard_rows(sample_entries(tmp_path)))
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + 6
    assert lines[0].startswith(
        "| method | Real ↑ | Retain ↑ | Forget ↓ | forget quality (KS p) ↑ | KS statistic ↓ | 1 − JS ↑"
    )
    assert {unescaped(line, "|") for line in lines} == {10}
    gold, ga = lines[2], lines[4]
    assert gold == "| gold | 0.500 | 0.510 | 0.190 | 1.000 | n/a | 1.000 | 0.470 | reference (gold) |"
    assert ga.startswith("| *ga@both* | *0.270* | *0.050* | *0.000* | *1.20e-09* |")
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "Retain < 0.4" in text


def test_latex_table_has_aligned_columns_escapes_and_grey_rows(tmp_path):
    text = leaderboard_latex(leaderboard_rows(sample_entries(tmp_path)))
    body = text.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body) == 6
    assert {unescaped(line, "&") for line in body} == {8}
    assert body[0] == r"gold & 0.500 & 0.510 & 0.190 & 1.000 & n/a & 1.000 & 0.470 & reference (gold) \\"
    assert body[1].split(" & ")[4] == r"$3.00\times10^{-5}$"
    assert body[2].startswith(r"\textcolor{gray}{ga@both}")
    assert r"out of memory \& 100\% used\_" in body[5]
    assert text.count(r"\begin{tabular}{lrrrrrrrl}") == 1 and text.rstrip().endswith(r"\end{tabular}")


# --- modality table ---------------------------------------------------------------------------


def test_modality_table_puts_each_run_in_its_modality_group(tmp_path):
    modalities, rows = modality_rows(leaderboard_rows(sample_entries(tmp_path)))
    assert modalities == ["text", "images", "both"]
    assert [r.label for r in rows] == ["gold", "target", "ga", "npo", "rmu", "dpo"]
    table = list(csv.DictReader(io.StringIO(modality_csv(modalities, rows))))
    # The paper's Table 3 columns: Real, Retain, Forget, 1 − JS (no entry has the text 1 − JS).
    assert list(table[0])[:5] == [
        "method",
        "text_real",
        "text_retain",
        "text_forget",
        "text_forget_quality_js",
    ]
    npo, ga, gold = table[3], table[2], table[0]
    assert float(npo["text_real"]) == 0.51 and npo["both_real"] == "" and npo["images_retain"] == ""
    assert float(ga["both_forget_quality_js"]) == 0.67 and ga["text_real"] == ""
    # References are the same model for every modality, so they fill every group.
    assert {gold[f"{m}_forget"] for m in modalities} == {"0.19"}


def test_modality_table_shows_the_text_half_when_evaluated():
    entries = [
        ReportEntry(
            "gold", "gold", metrics=metrics(0.5, 0.5, 0.2, 1.0, 1.0, 0.5, forget_quality_text_js=1.0)
        ),
        ReportEntry("npo", "unlearned", "npo", "text", metrics=metrics(0.5, 0.5, 0.3, 0.1, 0.95, 0.5)),
    ]
    entries[1].metrics["forget_quality_text_js"] = 0.4  # text forgotten, images barely moved
    modalities, rows = modality_rows(leaderboard_rows(entries))
    md = modality_markdown(modalities, rows).splitlines()
    assert md[0] == (
        "| method | text: Real ↑ | text: Retain ↑ | text: Forget ↓ | text: 1 − JS ↑ | text: 1 − JS on text ↑ |"
    )
    assert md[3] == "| npo | 0.50 | 0.50 | 0.30 | 0.95 | 0.40 |"


def test_modality_markdown_and_latex(tmp_path):
    modalities, rows = modality_rows(leaderboard_rows(sample_entries(tmp_path)))
    md = [line for line in modality_markdown(modalities, rows).splitlines() if line.startswith("|")]
    assert {unescaped(line, "|") for line in md} == {14}
    assert md[0].startswith(
        "| method | text: Real ↑ | text: Retain ↑ | text: Forget ↓ | text: 1 − JS ↑ | images: Real"
    )
    assert md[4] == "| ga | — | — | — | — | — | — | — | — | *0.27* | *0.05* | *0.00* | *0.67* |"
    tex = modality_latex(modalities, rows)
    assert r"\multicolumn{4}{c}{text} & \multicolumn{4}{c}{images} & \multicolumn{4}{c}{both}" in tex
    assert r"\cmidrule(lr){2-5} \cmidrule(lr){6-9} \cmidrule(lr){10-13}" in tex
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    assert {unescaped(line, "&") for line in body} == {12}
    assert body[3].startswith(r"npo & 0.51 & 0.40 & 0.29 & 0.85 & -- &")


def test_two_runs_of_one_method_on_one_modality_are_a_user_error():
    entries = [
        ReportEntry("npo-a", "unlearned", "npo", "text"),
        ReportEntry("npo-b", "unlearned", "npo", "text"),
        ReportEntry("npo-c", "unlearned", "npo", "both"),
    ]
    with pytest.raises(UserError, match="'npo-a' and 'npo-b'.*'npo'.*'text'"):
        modality_rows(leaderboard_rows(entries))
