"""Failures are loud: a run with a failed job exits non-zero (its report still written, the failure
named), and a re-run that retries it successfully exits 0."""

from __future__ import annotations


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

    fake_stages.fail.clear()
    assert cli(*run_args(out)).code == 0  # retried, and nothing failed
