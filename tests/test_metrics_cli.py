import json

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


def test_json_output_has_the_headline_keys(tmp_path, capsys):
    candidate = write_eval(tmp_path / "candidate", paraphrased=(2.0, 2.1, 2.2))
    gold = write_eval(tmp_path / "gold")
    assert main(["metrics", "--candidate", str(candidate), "--gold", str(gold), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {
        "model_utility",
        "forget_quality",
        "forget_quality_js",
        "forget_quality_js_aligned",
        "real",
        "retain",
        "forget",
        "tasks",
    } <= set(result)
    # 3 vs 3 fully separated truth ratios: exact KS p = 2 / C(6, 3)
    assert result["forget_quality"] == pytest.approx(0.1)
    assert result["gold"] == {"available": True, "path": str(gold)}
    assert set(result["tasks"]["tofu_forget"]) >= {"rouge", "prob", "truth_ratio", "rows"}


def test_table_output_without_gold_says_unavailable(tmp_path, capsys):
    candidate = write_eval(tmp_path / "candidate")
    assert main(["metrics", "--candidate", str(candidate), "--compat", "clear-official"]) == 0
    out = capsys.readouterr().out
    assert "compat: clear-official" in out
    assert "forget_quality               unavailable (no gold model logs given)" in out
    assert "real " in out and "unavailable (no task of this group was evaluated)" in out
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
    printed = [line.split()[0] for line in lines[1 : lines.index("")]]
    assert printed == [key for key, metric in METRICS.items() if metric.headline]
    assert "forget_quality_ks_statistic" not in printed  # in --json only
