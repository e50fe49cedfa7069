"""Failures are loud: a run with a failed job exits non-zero (its report still written, the failure
named), and a re-run that retries it successfully exits 0."""

from __future__ import annotations

import json

import pytest

from clearbench.errors import UserError
from clearbench.run.config import load_config


def test_a_failed_job_makes_run_exit_non_zero_with_the_report_written(
    cli, run_args, fake_stages, tmp_path, monkeypatch
):
    monkeypatch.setattr("clearbench.data.coverage.gold_token_coverage", lambda *a, **k: {})  # no tokenizer
    out = tmp_path / "run"
    fake_stages.fail["unlearn:npo"] = RuntimeError("CUDA out of memory")
    outcome = cli(*run_args(out))
    assert outcome.code == 1, outcome.err[-3000:]
    assert (out / "report" / "report.html").read_text() == "<html>complete</html>"
    assert f"clearbench: 1 job(s) failed: npo; see `clearbench jobs {out} --state failed`" in outcome.err

    jobs = {job["name"]: job for job in json.loads((out / "run.json").read_text())["jobs"]}
    assert jobs["npo"]["state"] == "failed" and jobs["ga"]["state"] == "done"
    assert jobs["ga"]["threads"] == 1 and jobs["ga"]["wall_s"] >= 0  # the suite's thread count

    fake_stages.fail.clear()
    assert cli(*run_args(out)).code == 0  # retried, and nothing failed


def test_requests_holding_the_same_people_are_refused_before_training(
    refused, run_args, fake_stages, tmp_path
):
    # The 4-person source: forget05 and forget10 are the same one person.
    out = tmp_path / "run"
    line = refused(run_args(out, "requests=[forget05, forget10]"), "requests ['forget05', 'forget10']")
    assert "forget10 holds no one the request before it does not (1 people in both)" in line
    assert fake_stages.calls == [] and not (out / "jobs").exists()


def test_too_few_people_in_a_split_are_refused_before_training(refused, run_args, fake_stages, tmp_path):
    out = tmp_path / "run"
    line = refused(run_args(out, "data.min_people=2"), "forget split forget10 of data source")
    assert "1 in forget10, 1 in holdout, 3 in retain90; each needs at least 2 people" in line
    assert fake_stages.calls == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["forget_split=forget01", "data.persons=20"],
            "forget split forget01: the 20-person world puts 1 in forget01, 1 in its holdout and 19 in "
            "retain99; each needs at least 2 people (data.min_people): set data.persons to at least 150",
        ),
        (
            ["data.persons=6", "requests=[forget05, forget10]", "data.min_people=1"],
            "requests ['forget05', 'forget10']: in the 6-person world they hold 1 in forget05, 1 in "
            "forget10 (nested sets, so a request of the same size forgets nobody new): set data.persons to at least 15",
        ),
    ],
)
def test_a_synthetic_world_too_small_for_its_splits_is_refused_by_the_config(overrides, message, monkeypatch):
    monkeypatch.setenv("CLEARBENCH_MIN_PEOPLE", "2")  # the user's default, not the suite's tiny worlds'
    with pytest.raises(UserError) as error:
        load_config(None, overrides)
    assert str(error.value) == message
