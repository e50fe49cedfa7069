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
    assert result["model_utility"] == pytest.approx(0.6227, rel=1e-3)
    assert result["forget_quality"] == pytest.approx(1.83e-21, rel=0.03)
    assert result["tasks"]["tofu_forget"]["rows"] == 300  # every row, none dropped


def test_tofu_logs_give_the_same_numbers_under_clear_official():
    # The official text pipeline uses TOFU's definitions, so the compat mode changes nothing here.
    ours = compute_metrics(read_eval(FULL), read_eval(RETAIN90))
    official = compute_metrics(read_eval(FULL), read_eval(RETAIN90), compat="clear-official")
    for key in ("model_utility", "forget_quality", "real", "retain", "forget"):
        assert official[key] == pytest.approx(ours[key])


def test_cli_on_official_files(capsys):
    assert main(["metrics", "--candidate", str(FULL), "--gold", str(RETAIN90), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_utility"] == pytest.approx(0.6227, rel=1e-3)
    assert math.log(result["forget_quality"]) == pytest.approx(result["forget_quality_log"])
    assert set(result["tasks"]["tofu_real_authors"]) >= {"rouge", "prob", "truth_ratio"}
    # retain95's forget log covers forget05 (200 rows): not comparable with forget10's 300
    assert main(["metrics", "--candidate", str(FULL), "--gold", str(RETAIN95)]) == 2
    error = capsys.readouterr().err
    assert "llama2-7b_retain95_wd0.01.json [eval_log_forget.json] has 200" in error
    assert error.count("\n") == 1
