import json
import math

import pytest

from clearbench.cli import main
from clearbench.evaluate import logs


def write_eval(path, paraphrased=(0.2, 0.4, 0.6)):
    """A clearbench eval directory with one forget and one retain task (TOFU half)."""
    rows = {str(i): value for i, value in enumerate(paraphrased)}
    log = {
        "avg_gt_loss": dict(rows),
        "avg_paraphrased_loss": dict(rows),
        "average_perturb_loss": {i: [1.0, 1.5] for i in rows},
        "rougeL_recall": {i: 1.0 for i in rows},
    }
    for task in ("tofu_forget", "tofu_retain"):
        logs.write_task_log(path, task, log)
    logs.write_summary(path, {"model": "tiny"})
    return path


def test_json_output_has_the_metric_tables_keys(tmp_path, capsys):
    from clearbench.evaluate.metric_table import METRICS

    candidate = write_eval(tmp_path / "candidate", paraphrased=(2.0, 2.1, 2.2))
    gold = write_eval(tmp_path / "gold")
    assert main(["metrics", "--candidate", str(candidate), "--gold", str(gold), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(METRICS) | {"tasks", "tasks_used", "calibration", "unavailable"} <= set(result)
    # 3 vs 3 fully separated truth ratios: exact KS p = 2 / C(6, 3)
    assert result["forget_quality_text"] == pytest.approx(0.1)
    assert result["forget_quality"] is None  # no image task: the paper's columns are not invented
    assert result["gold"] == {"available": True, "path": str(gold)}
    assert set(result["tasks"]["tofu_forget"]) >= {"rouge", "prob", "truth_ratio", "truth_preference", "rows"}
    assert result["calibration"]["forget_quality_text_js"]["rows"] == [3, 3]


def test_table_output_without_gold_says_unavailable(tmp_path, capsys):
    candidate = write_eval(tmp_path / "candidate")
    assert main(["metrics", "--candidate", str(candidate), "--compat", "clear-official"]) == 0
    out = capsys.readouterr().out
    assert "compat: clear-official" in out
    assert (
        "images: CLEAR's image tasks (the paper's columns)\n  not evaluated (the logs hold text tasks)" in out
    )
    assert "  forget_quality_text        unavailable (no gold model logs given)" in out
    assert "  real_text                  unavailable (none of its tasks was evaluated (it reads" in out
    # Each aggregate says what it holds: terms under the compat mode's definitions.
    assert "model_utility_text         0.7082     H of 3 terms: rouge, prob, truth_ratio x tofu_retain" in out
    assert "forget_text" in out and "H of 2 terms: prob, truth_ratio x tofu_forget" in out
    assert "tofu_forget" in out


@pytest.mark.parametrize("breakage", ["missing_key", "bad_json", "missing_path", "fewer_rows"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, breakage):
    candidate = write_eval(tmp_path / "candidate")
    gold = write_eval(tmp_path / "gold")
    broken = gold / "tofu_forget.json"
    if breakage == "missing_key":
        log = json.loads(broken.read_text())
        del log["average_perturb_loss"]
        broken.write_text(json.dumps(log))
        expected = "tofu_forget.json: missing per-sample key 'average_perturb_loss'"
    elif breakage == "bad_json":
        broken.write_text("{")
        expected = "tofu_forget.json: not valid JSON"
    elif breakage == "missing_path":
        gold = tmp_path / "nowhere"
        expected = "nowhere: no such eval directory"
    else:
        write_eval(gold, paraphrased=(0.1, 0.2))
        expected = "task 'tofu_forget'"
    assert main(["metrics", "--candidate", str(candidate), "--gold", str(gold)]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.startswith("clearbench: error:") and err.count("\n") == 1


def test_table_prints_the_headline_metrics_in_the_metric_tables_order(tmp_path):
    from clearbench.commands.metrics import format_table
    from clearbench.evaluate.metric_table import METRICS
    from clearbench.evaluate.metrics import compute_metrics

    candidate = logs.read_eval(write_eval(tmp_path / "candidate", paraphrased=(2.0, 2.1, 2.2)))
    gold = logs.read_eval(write_eval(tmp_path / "gold"))
    lines = format_table(compute_metrics(candidate, gold)).splitlines()
    text = lines.index("text: TOFU's QA tasks")
    printed = [line.split()[0] for line in lines[text + 1 : lines.index("", text)]]
    assert printed == [key for key, metric in METRICS.items() if metric.headline and metric.scope == "text"]
    # The calibrated 1 − JS is printed with its gold-like range at this row count: two bins below 8
    # rows, χ²(1) 95th percentile 3.841 times (1/3 + 1/3) / (8 ln 2), less the bias (1/3 + 1/3) / (8 ln 2).
    scale = (2 / 3) / (8 * math.log(2))
    low = 1 - math.sqrt((3.841459 * scale - scale) / (1 - scale))
    js = next(line for line in lines if line.split()[:1] == ["forget_quality_text_js"])
    assert f"gold-like 95% range at 3/3 rows: {low:.4f}-1.0000" in js


def test_candidate_and_gold_on_different_data_are_refused_unless_allowed(tmp_path, capsys):
    candidate = write_eval(tmp_path / "candidate")
    gold = write_eval(tmp_path / "gold")
    for path, revision in ((candidate, "sha256:aaa"), (gold, "sha256:bbb")):
        logs.write_summary(path, {"model": "tiny", "data_revision": revision})
    command = ["metrics", "--candidate", str(candidate), "--gold", str(gold)]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "data revision sha256:aaa" in err and "sha256:bbb" in err and err.count("\n") == 1
    assert main([*command, "--allow-different-data"]) == 0
    assert "warning" in capsys.readouterr().err
    logs.write_summary(gold, {"model": "tiny", "data_revision": "sha256:aaa"})
    assert main(command) == 0


@pytest.mark.parametrize("key,value", [("avg_gt_loss", math.inf), ("average_perturb_loss", [1.0, -math.inf])])
def test_non_finite_losses_are_refused_naming_file_key_and_row(tmp_path, capsys, key, value):
    candidate = write_eval(tmp_path / "candidate")
    gold = write_eval(tmp_path / "gold")
    path = candidate / "tofu_forget.json"
    log = json.loads(path.read_text())
    log[key]["1"] = value  # json writes Infinity, which Python reads back
    path.write_text(json.dumps(log))
    assert main(["metrics", "--candidate", str(candidate), "--gold", str(gold)]) == 2
    err = capsys.readouterr().err
    assert "tofu_forget.json" in err and repr(key) in err and "row 1" in err and "finite" in err
