"""A real local Ray runtime runs a tiny sweep (2 methods × 2 unlearning seeds) to the very results of
the in-process run, even when a worker is killed in the middle of a job."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clearbench.jobs import job_states
from clearbench.run.config import load_config
from clearbench.run.pipeline import Pipeline

pytest.importorskip("ray")

SWEEP = [
    "data.persons=5",
    "data.famous=10",  # a small pretrained world: the test is about where jobs run, not what they learn
    "data.famous_photos=2",
    "data.scenes=5",
    "pretrain.max_steps=4",
    "finetune.max_steps=6",
    "unlearn.max_steps=3",
    "unlearn.methods=[ga, npo]",
    "seeds.unlearn=[0, 1]",
    "eval.max_rows=3",
    "eval.max_new_tokens=6",
    "attack.relearn_steps=2",  # attack jobs run on the workers too; kept small
    "attack.quantize=[int4]",
    "attack.queries=[noise]",
]


def _metrics(run_dir: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((run_dir / "metrics").glob("*.json"))}


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # processes of its own: one such test at a time
def test_a_ray_sweep_with_a_killed_worker_equals_the_in_process_run(tmp_path, monkeypatch):
    import torch

    # Default settings (jobs.threads 2, not the suite's 1), while this process computes on 1 thread
    # outside jobs: each job, here and on the Ray workers, sets its own count.
    monkeypatch.delenv("CLEARBENCH_THREADS")
    assert load_config(None, SWEEP).jobs.threads == 2 and torch.get_num_threads() == 1
    Pipeline(load_config(None, SWEEP), tmp_path / "here", log=lambda line: None).run()
    assert torch.get_num_threads() == 1  # restored after each job

    out = tmp_path / "ray"
    command = [sys.executable, "-m", "clearbench.cli", "run", "--out", str(out), "--workers", "2"]
    for override in SWEEP:
        command += ["--set", override]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.time() + 300
    while killed is None and time.time() < deadline and process.poll() is None:
        for job in job_states(out):
            if job["kind"] == "unlearn" and job["state"] == "running" and job["pid"] != process.pid:
                os.kill(job["pid"], signal.SIGKILL)  # the Ray worker running it
                killed = job
                break
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    assert killed is not None, "no unlearning job was seen running"

    states = {job["key"]: job for job in job_states(out)}
    assert all(job["state"] == "done" for job in states.values()), states
    assert states[killed["key"]]["pid"] != killed["pid"]  # finished by the retry, in another worker
    assert not [path for path in out.rglob("*.tmp")]
    here, there = _metrics(tmp_path / "here"), _metrics(out)
    assert set(here) == {"base", "target", "gold", "ga~u0", "ga~u1", "npo~u0", "npo~u1"}
    assert there == here
    assert {job["threads"] for job in states.values()} == {2}
    assert json.loads((out / "run.json").read_text())["threads"] == 2
