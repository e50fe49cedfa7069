"""Intervals from one seed: the headline metrics recomputed on rows drawn with replacement.

Each resample draws, for every task, as many rows as it has (with replacement) and recomputes every
metric on the drawn rows; the candidate and gold draw the same rows of a task (their logs are of the
same rows), so forget quality compares the same people. The interval is the percentile interval of
the resampled values (Efron & Tibshirani 1993, ch. 13). It measures how much the numbers depend on
which rows were asked, not on training randomness: that is what seeds are for (`report.seeds`).

Why not `scipy.stats.bootstrap`: it resamples one array per statistic; here one resample is a joint
draw over every task's log (and gold's), fed to `compute_metrics` as a whole.
"""

from __future__ import annotations

import math

import numpy as np

from clearbench.evaluate.logs import HEADER_KEYS
from clearbench.evaluate.metric_table import METRICS

LEVEL = 0.95
DESCRIPTION = "bootstrap over rows, {n} resamples, 95 % percentile interval"


def resample_log(log: dict, rows: np.ndarray) -> dict:
    """The task log of the given rows (by position), renumbered from 0."""
    drawn = {}
    for key, value in log.items():
        if key in HEADER_KEYS or not isinstance(value, dict):
            drawn[key] = value
            continue
        values = [value.get(str(row)) for row in rows]
        drawn[key] = {str(i): v for i, v in enumerate(values)} if value else value
    return drawn


def row_count(log: dict) -> int:
    return max((len(v) for k, v in log.items() if k not in HEADER_KEYS and isinstance(v, dict)), default=0)


def bootstrap_intervals(
    candidate: dict, gold: dict | None, *, compat: str, resamples: int, seed: int = 0
) -> dict:
    """{"method": ..., "values": {metric: [low, high]}} for every headline metric with a value."""
    from clearbench.evaluate.metrics import compute_metrics

    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {key: [] for key in METRICS}
    for _ in range(resamples):
        rows = {task: rng.integers(0, n, n) for task, log in candidate.items() if (n := row_count(log))}
        drawn = {
            task: resample_log(log, rows[task]) if task in rows else log for task, log in candidate.items()
        }
        drawn_gold = None
        if gold is not None:
            drawn_gold = {
                task: resample_log(log, rows[task])
                if task in rows and row_count(log) == len(rows[task])
                else log
                for task, log in gold.items()
            }
        values = compute_metrics(drawn, drawn_gold, compat=compat)
        for key in METRICS:
            value = values.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                samples[key].append(float(value))
    tail = (1 - LEVEL) / 2 * 100
    intervals = {
        key: [float(np.percentile(found, tail)), float(np.percentile(found, 100 - tail))]
        for key, found in samples.items()
        if len(found) == resamples
    }
    return {"method": DESCRIPTION.format(n=resamples), "values": intervals}
