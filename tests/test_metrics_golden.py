"""TOFU's own released eval logs must give TOFU's own aggregates (Llama-2-7B, full vs retain90)."""

import json
import math
from pathlib import Path

import pytest

from clearbench.cli import main
from clearbench.evaluate.logs import read_eval
from clearbench.evaluate.metrics import compute_metrics

FIXTURES = Path(__file__).parents[1] / ".." / "shared" / "fixtures" / "tofu-eval-logs"
FULL = FIXTURES / "llama2-7b_full_wd0.01.json"
RETAIN90 = FIXTURES / "llama2-7b_retain90_wd0.01.json"
RETAIN95 = FIXTURES / "llama2-7b_retain95_wd0.01.json"

pytestmark = pytest.mark.skipif(not FULL.exists(), reason="../shared/fixtures/tofu-eval-logs is absent")


def test_tofu_llama2_full_vs_retain90_reproduces_tofu():
    result = compute_metrics(read_eval(FULL), read_eval(RETAIN90))
    assert result["model_utility_text"] == pytest.approx(0.6227, rel=1e-3)
    assert result["forget_quality_text"] == pytest.approx(1.83e-21, rel=0.03)
    assert result["tasks"]["tofu_forget"]["rows"] == 300  # every row, none dropped
    # TOFU logs hold the text half only: the image (paper) and both-halves columns are not invented.
    assert result["model_utility"] is None and result["forget_quality"] is None
    assert result["model_utility_both"] is None


# Per-task values of TOFU's Llama-2-7B `full` logs (ROUGE-L recall, Prob, truth-ratio score), pinned
# so that a change in any per-task formula shows here and not only in the aggregates; their 9-term
# harmonic mean is TOFU's 0.6227 (and, per issue 11, independent re-implementations agree).
TOFU_TASKS = {
    "tofu_retain": (0.985655, 0.989527, 0.474699),
    "tofu_real_authors": (0.933000, 0.455482, 0.596229),
    "tofu_world_facts": (0.882479, 0.418562, 0.539033),
    "tofu_forget": (0.985450, 0.990939, 0.515985),
}


@pytest.mark.parametrize("task", TOFU_TASKS)
def test_tofu_per_task_values_are_pinned(task):
    values = compute_metrics(read_eval(FULL))["tasks"][task]
    assert (values["rouge"], values["prob"], values["truth_ratio"]) == pytest.approx(
        TOFU_TASKS[task], abs=2e-6
    )


def test_tofu_logs_under_clear_official():
    # The official text pipeline uses TOFU's definitions, so compat changes nothing on the text half
    # except the paper's mixed-direction Forget: H(Prob, min(R, 1/R)) instead of H(Prob, 1 − 1/R).
    ours = compute_metrics(read_eval(FULL), read_eval(RETAIN90))
    official = compute_metrics(read_eval(FULL), read_eval(RETAIN90), compat="clear-official")
    for key in ("model_utility_text", "forget_quality_text", "real_text", "retain_text"):
        assert official[key] == pytest.approx(ours[key])
    forget = official["tasks"]["tofu_forget"]
    assert official["forget_text"] == pytest.approx(2 / (1 / forget["prob"] + 1 / forget["truth_ratio"]))
    assert ours["forget_text"] == pytest.approx(2 / (1 / forget["prob"] + 1 / forget["truth_preference"]))
    # The paper's v1 / text-only table reports ln p; and 1 − JS is the official index-aligned one.
    assert official["forget_quality_text_log"] == pytest.approx(math.log(official["forget_quality_text"]))
    assert official["forget_quality_text_js"] != pytest.approx(ours["forget_quality_text_js"])


def test_cli_on_official_files(capsys):
    assert main(["metrics", "--candidate", str(FULL), "--gold", str(RETAIN90), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_utility_text"] == pytest.approx(0.6227, rel=1e-3)
    assert math.log(result["forget_quality_text"]) == pytest.approx(result["forget_quality_text_log"])
    assert set(result["tasks"]["tofu_real_authors"]) >= {"rouge", "prob", "truth_ratio"}
    # retain95's forget log covers forget05 (200 rows): not comparable with forget10's 300
    assert main(["metrics", "--candidate", str(FULL), "--gold", str(RETAIN95)]) == 2
    error = capsys.readouterr().err
    assert "llama2-7b_retain95_wd0.01.json [eval_log_forget.json] has 200" in error
    assert error.count("\n") == 1
