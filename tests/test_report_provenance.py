"""The report says how its numbers were made (report/provenance.py)."""

from __future__ import annotations

import json

from clearbench.report.provenance import coverage_sentence, machine_line, provenance_html, read_provenance


def test_provenance_reads_run_json_and_token_coverage(tmp_path):
    run = {"versions": {"torch": "2.13.0", "numpy": None}, "seeds": {"train": [0]}, "threads": 2}
    run |= {
        "data_source": "runs/x/data",
        "data_revision": "abc123",
        "holdout": {"count": 10, "how": "configs"},
    }
    (tmp_path / "run.json").write_text(json.dumps(run))
    coverage = {"forget": 0.02, "holdout": 0.025, "gap": 0.005, "agree": True}
    (tmp_path / "token_coverage.json").write_text(json.dumps(coverage))
    html = "\n".join(provenance_html(read_provenance(tmp_path)))
    for text in ("torch 2.13.0", "threads per job: 2", "revision abc123", "holdout (non-member) people: 10"):
        assert text in html
    assert "numpy" not in html  # not installed: not listed
    assert "2.0% of the forget" in html and "2.5% of the holdout" in html and "they agree" in html


def test_a_gap_over_one_point_is_called_a_confound():
    assert "confounded" in coverage_sentence({"forget": 0.01, "holdout": 0.05, "gap": 0.04, "agree": False})
    assert "not measured" in coverage_sentence({"skipped": "no holdout10 config"})


def test_a_folder_without_run_json_has_no_provenance(tmp_path):
    assert read_provenance(tmp_path) is None and provenance_html(None) == []


def test_time_per_stage_and_machine_from_the_jobs(tmp_path):
    jobs = [
        {"kind": "finetune", "state": "done", "wall_s": 100.4, "host": "vm"},
        {"kind": "unlearn", "state": "done", "wall_s": 20.0, "host": "vm"},
        {"kind": "unlearn", "state": "reused", "wall_s": None, "host": "gpu-1"},
    ]
    info = {"versions": {"torch": "2.13.0+cpu"}, "jobs": jobs}
    html = "\n".join(provenance_html(info))
    assert "<tr><td>finetune</td><td>1</td><td>100</td><td>0</td></tr>" in html
    assert "<tr><td>unlearn</td><td>2</td><td>20</td><td>1</td></tr>" in html
    assert "(120 s in all;" in html
    assert "machine: hosts gpu-1, vm; CPU build of torch" in html


def test_the_machine_names_its_cores_and_each_gpu(monkeypatch):
    import os

    import torch

    from clearbench.versions import machine

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert machine().startswith("3 CPU cores (") and machine().endswith(", no GPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Accelerator {index}")
    assert machine().endswith(", GPU: Accelerator 0, Accelerator 1")
    assert machine_line({"machine": machine()}) == f"machine: {machine()}"
