"""Scheduling overhead of Ray against the in-process executor, on the same jobs.

Runs one small sweep (2 methods × 2 unlearning seeds on a very small tiny world: 11 training and
evaluation jobs) twice in fresh folders: in this process, then on a local Ray runtime with one
worker (so both run the jobs one after another, each with one torch thread), and prints both
wall times, their ratio and the overhead per job. One run each: these machines are noisy.

    python benchmarks/ray_overhead.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from clearbench.jobs import job_states
from clearbench.run.config import load_config
from clearbench.run.pipeline import Pipeline

SWEEP = [
    "data.persons=5",
    "pretrain.max_steps=4",
    "finetune.max_steps=6",
    "unlearn.max_steps=3",
    "unlearn.methods=[ga, npo]",
    "seeds.unlearn=[0, 1]",
    "eval.max_rows=3",
    "eval.max_new_tokens=6",
    "eval.bootstrap=0",
]


def timed(out: Path, overrides: list[str]) -> float:
    started = time.perf_counter()
    Pipeline(load_config(None, SWEEP + overrides), out, log=lambda line: None).run()
    return time.perf_counter() - started


def main() -> None:
    torch.set_num_threads(1)  # as each Ray job (one CPU)
    root = Path(tempfile.mkdtemp(prefix="clearbench-ray-overhead-"))
    here = timed(root / "here", [])
    jobs = len(job_states(root / "here"))
    ray = timed(root / "ray", ["jobs.workers=1"])
    print(f"jobs:        {jobs}")
    print(f"in-process:  {here:7.1f} s")
    print(f"Ray, 1 worker: {ray:5.1f} s (including starting the local runtime)")
    print(f"ratio Ray / in-process: {ray / here:.2f}")
    print(f"overhead per job: {(ray - here) / jobs:.2f} s")


if __name__ == "__main__":
    main()
