"""Links never followed out of a run: `run --reuse`, `export` and `report` refuse a symbolic link
that leaves the run folder (naming it), copy links that stay inside as links, and never write
through a linked `report/`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from clearbench import files
from clearbench.errors import UserError
from clearbench.report import build_report
from clearbench.report.run_dir import read_entries
from clearbench.run.export import export_run
from clearbench.run.reuse import adopt_reference_models

CONFIG = {
    "data": {"source": "d"},
    "model": {"name": "m"},
    "forget_split": "forget10",
    "seeds": {"train": [0]},
}
KEY = "finetune-0123abcd"


def fake_run(root: Path) -> Path:
    """A finished run's layout with one target model (tiny safetensors weights, recorded at save)."""
    (root / "metrics").mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (root / "run.json").write_text(json.dumps({"data_revision": "rev"}))
    (root / "runs.json").write_text(json.dumps([{"name": "target", "kind": "target", "job": KEY}]))
    (root / "metrics" / "target.json").write_text(json.dumps({"forget_quality": 0.5}))
    job = root / "jobs" / KEY
    (job / "output").mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"kind": "finetune", "spec": {}}))
    (job / "state.json").write_text(json.dumps({"state": "done"}))
    (job / "output" / "config.json").write_text("{}")
    save_file({"w": np.ones(3, dtype=np.float32)}, str(job / "output" / "model.safetensors"))
    files.record_weights(job / "output")
    return root


@pytest.fixture
def host_file(tmp_path) -> Path:
    """Stands for /etc/passwd: a file outside every run."""
    secret = tmp_path / "host" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0\n")
    return secret


def adopt(earlier: Path, new: Path):
    return adopt_reference_models(earlier, new, CONFIG, "rev")


def test_reuse_refuses_a_link_out_of_the_earlier_run_and_links_nothing(tmp_path, host_file):
    earlier = fake_run(tmp_path / "earlier")
    os.symlink(host_file, earlier / "jobs" / KEY / "output" / "passwd")
    new = tmp_path / "new"
    with pytest.raises(UserError, match=r"passwd is a link out of .*never follows"):
        adopt(earlier, new)
    assert not (new / "jobs" / KEY).exists()
    assert [p.name for p in (new / "jobs").iterdir()] == []  # no half-copied job either
    assert os.stat(host_file).st_nlink == 1  # the host file was not hard-linked anywhere


def test_reuse_refuses_a_linked_folder_leading_out(tmp_path, host_file):
    earlier = fake_run(tmp_path / "earlier")
    os.symlink(host_file.parent, earlier / "jobs" / KEY / "output" / "etc")
    with pytest.raises(UserError, match="etc is a link out of"):
        adopt(earlier, tmp_path / "new")


def test_reuse_refuses_a_job_folder_that_is_a_link_out_of_the_run(tmp_path):
    earlier = fake_run(tmp_path / "earlier")
    outside = tmp_path / "elsewhere"
    (earlier / "jobs" / KEY).rename(outside)
    os.symlink(outside, earlier / "jobs" / KEY)
    with pytest.raises(UserError, match=f"{KEY}/job.json is a link out of"):
        adopt(earlier, tmp_path / "new")


def test_reuse_copies_a_link_inside_the_job_as_a_link(tmp_path):
    earlier = fake_run(tmp_path / "earlier")
    os.symlink("config.json", earlier / "jobs" / KEY / "output" / "alias.json")
    new = tmp_path / "new"
    assert adopt(earlier, new)["models"] == ["target"]
    copied = new / "jobs" / KEY / "output"
    assert os.readlink(copied / "alias.json") == "config.json"
    assert (copied / "model.safetensors").stat().st_ino == (
        earlier / "jobs" / KEY / "output" / "model.safetensors"
    ).stat().st_ino  # a hard link, as before


def test_reuse_refuses_weights_replaced_after_their_training(tmp_path):
    earlier = fake_run(tmp_path / "earlier")
    weights = earlier / "jobs" / KEY / "output" / "model.safetensors"
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(weights))
    new = tmp_path / "new"
    with pytest.raises(UserError, match="weights of target .* are not the ones its training saved"):
        adopt(earlier, new)
    assert not (new / "jobs" / KEY).exists()


def test_export_refuses_a_link_out_of_the_run_under_report(tmp_path, host_file):
    run = fake_run(tmp_path / "run")
    (run / "report").mkdir()
    os.symlink(host_file, run / "report" / "leaderboard.csv")
    out = tmp_path / "export"
    with pytest.raises(UserError, match="leaderboard.csv is a link out of"):
        export_run(run, out)
    assert not out.exists() and not any(p.name.startswith(".export") for p in tmp_path.iterdir())


def test_export_refuses_a_link_out_of_the_run_in_a_job(tmp_path, host_file):
    run = fake_run(tmp_path / "run")
    os.symlink(host_file, run / "jobs" / KEY / "output" / "tokenizer.json")
    with pytest.raises(UserError, match="tokenizer.json is a link out of"):
        export_run(run, tmp_path / "export")


def test_export_into_the_run_itself_is_refused(tmp_path):
    run = fake_run(tmp_path / "run")
    (run / "empty").mkdir()
    with pytest.raises(UserError, match="would overwrite the input"):
        export_run(run, run / "empty")


def test_report_never_writes_through_a_linked_report_folder(tmp_path):
    run = fake_run(tmp_path / "run")
    other = tmp_path / "someone_elses"
    other.mkdir()
    (other / "leaderboard.csv").write_text("mine\n")
    os.symlink(other, run / "report")
    with pytest.raises(UserError, match="report folder .* is a link"):
        build_report(read_entries(run), run / "report")
    assert (other / "leaderboard.csv").read_text() == "mine\n"


def test_report_reads_no_metrics_outside_the_run(tmp_path, host_file):
    run = fake_run(tmp_path / "run")
    (run / "metrics" / "target.json").unlink()
    os.symlink(host_file, run / "metrics" / "target.json")
    with pytest.raises(UserError, match="target.json is a link out of"):
        read_entries(run)
