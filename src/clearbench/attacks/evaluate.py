"""Evaluate a model already in memory on task variants: one log per task, then summary.json.

The same scoring as `clearbench eval` (`runner.evaluate_task`), for models that exist only in
memory (quantized) and for tasks that are not the declared ones (attack variants). Resumes task by
task; summary.json, written last, marks the folder complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clearbench.attacks.base import Context
from clearbench.attacks.variants import AttackTask
from clearbench.evaluate import logs
from clearbench.evaluate.runner import evaluate_task, task_summary


def evaluate_variant(
    loaded,
    tasks: Sequence[AttackTask],
    context: Context,
    out_dir: Path,
    *,
    record: dict,
    batch_size: int = 8,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> dict[str, dict]:
    """Write `<task>.json` for each task not yet in `out_dir`, then `summary.json`; the logs."""
    model, processor, adapter = loaded
    done = logs.completed_tasks(out_dir)
    for task in tasks:
        if task.name in done:
            continue
        config = task.config(context.forget_split)
        log = evaluate_task(
            model,
            adapter,
            processor,
            task,
            task.select(context.splits[task.name]),
            seed=seed,
            config=config,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            people=context.people,  # each row's person, text rows too: intervals resample people
            leak_samples=getattr(task, "samples", 0),  # the leak attack's sampled answers (leak.py)
            leak_temperature=getattr(task, "temperature", 1.0),
        )
        logs.write_task_log(out_dir, task.name, log)
    written = logs.read_eval(out_dir)
    summary = {**record, "tasks": {task.name: task_summary(written[task.name]) for task in tasks}}
    logs.write_summary(out_dir, summary)
    return {task.name: written[task.name] for task in tasks}


def is_complete(out_dir: Path) -> bool:
    return (Path(out_dir) / logs.SUMMARY).is_file()
