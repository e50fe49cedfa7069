"""Several seeds of one model, as one leaderboard row: the mean, a 95 % interval, and which methods
cannot be told apart.

- Interval over seeds: Student's t, mean ± t(0.975, n − 1) · s / √n, s the sample standard deviation
  over the n seed runs of a row (for a method, the (training seed, unlearning seed) pairs).
- A row of one seed keeps the interval its metrics carry: the bootstrap over rows
  (`clearbench.evaluate.bootstrap`), labelled as such.
- Two methods differ significantly on a metric when a paired t-test over the seed runs they share
  (same training and unlearning seed: the same target, the same randomness) gives p < 0.05.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from itertools import combinations

from scipy import stats

from clearbench.evaluate.metric_table import METRICS
from clearbench.report.entries import ReportEntry, as_number
from clearbench.report.tables import Table

LEVEL = 0.95
ALPHA = 0.05
T_METHOD = "t-interval over {n} seeds, 95 %"


def t_interval(values: list[float]) -> tuple[float, float, float] | None:
    """(mean, low, high) of the 95 % t-interval; None with fewer than two values."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    half = stats.t.ppf(1 - (1 - LEVEL) / 2, len(values) - 1) * stats.sem(values)
    return mean, mean - half, mean + half


def paired_p_value(a: list[float], b: list[float]) -> float | None:
    """Two-sided paired t-test p-value; 1 when every difference is 0; None with fewer than 2 pairs."""
    if len(a) < 2:
        return None
    if all(x == y for x, y in zip(a, b, strict=True)):
        return 1.0
    p = stats.ttest_rel(a, b).pvalue
    return None if math.isnan(p) else float(p)


def groups(entries: Iterable[ReportEntry]) -> dict[str, list[ReportEntry]]:
    found: dict[str, list[ReportEntry]] = {}
    for entry in entries:
        found.setdefault(entry.group, []).append(entry)
    return found


def aggregate(entries: list[ReportEntry]) -> list[ReportEntry]:
    """One entry per group: a lone entry as it is; several seeds as their mean with t-intervals."""
    rows = []
    for group, members in groups(entries).items():
        if len(members) == 1:
            rows.append(members[0])
            continue
        done = [m for m in members if m.status == "completed" and m.metrics is not None]
        failed = [m for m in members if m not in done]
        error = "; ".join(f"{m.name}: {m.status} ({m.error})" for m in failed) or None
        first = members[0]
        row = replace(first, name=group, train_seed=None, unlearn_seed=None, job=None, error=error)
        if not done:
            rows.append(replace(row, status=failed[0].status, metrics=None))
            continue
        rows.append(replace(row, status="completed", metrics=_mean_metrics(done)))
    return rows


def _mean_metrics(members: list[ReportEntry]) -> dict:
    metrics: dict = {"seeds": len(members), "compat": members[0].metrics.get("compat")}
    intervals = {}
    for key in METRICS:
        values = [m.metric(key) for m in members]
        if any(v is None for v in values):
            metrics[key] = None
            continue
        found = t_interval(values)
        metrics[key] = found[0]
        intervals[key] = [found[1], found[2]]
    metrics["intervals"] = {"method": T_METHOD.format(n=len(members)), "values": intervals}
    tasks = {}
    for task in members[0].task_names():
        numbers = {}
        for key in members[0].metrics["tasks"][task] or {}:
            values = [m.task_metric(task, key) for m in members]
            if all(v is not None for v in values):
                numbers[key] = sum(values) / len(values)
        tasks[task] = numbers
    metrics["tasks"] = tasks
    return metrics


def interval(entry: ReportEntry, key: str) -> tuple[float, float] | None:
    found = ((entry.metrics or {}).get("intervals") or {}).get("values", {}).get(key)
    if not isinstance(found, list) or len(found) != 2:
        return None
    low, high = (as_number(v) for v in found)
    return None if low is None or high is None else (low, high)


def interval_methods(entries: Iterable[ReportEntry]) -> list[str]:
    """How the shown intervals were computed, each once (for the legend)."""
    methods = [((e.metrics or {}).get("intervals") or {}).get("method") for e in entries]
    return list(dict.fromkeys(m for m in methods if isinstance(m, str)))


def indistinguishable(entries: list[ReportEntry], keys: tuple[str, ...]) -> list[dict]:
    """Pairs of methods whose difference on a metric is not significant over their shared seeds."""
    methods = {
        group: {(m.train_seed, m.unlearn_seed): m for m in members if m.status == "completed"}
        for group, members in groups(entries).items()
        if members[0].kind == "unlearned"
    }
    pairs = []
    for (a, runs_a), (b, runs_b) in combinations(methods.items(), 2):
        shared = sorted(set(runs_a) & set(runs_b), key=str)
        for key in keys:
            values = [(runs_a[s].metric(key), runs_b[s].metric(key)) for s in shared]
            values = [(x, y) for x, y in values if x is not None and y is not None]
            p = paired_p_value([x for x, _ in values], [y for _, y in values])
            if p is not None and p >= ALPHA:
                pairs.append({"a": a, "b": b, "metric": key, "p_value": p, "seeds": len(values)})
    return pairs


# ---- tables ---------------------------------------------------------------------------------------
SIGNIFICANCE_KEYS = ("forget_quality", "forget_quality_js", "model_utility")


def significance_table(entries: list[ReportEntry]) -> Table | None:
    """Pairs of methods not significantly different, per headline metric; None with one seed run."""
    if all(len(members) < 2 for members in groups(entries).values()):
        return None
    from clearbench.report.leaderboard import format_number

    pairs = indistinguishable(entries, SIGNIFICANCE_KEYS)
    rows = [
        [
            p["a"],
            p["b"],
            p["metric"],
            format_number(p["p_value"], p_value=True),
            str(p["seeds"]),
        ]
        for p in pairs
    ]
    note = (
        f"Paired t-test over the seed runs both methods share; p ≥ {ALPHA:g}: the difference is not "
        "significant. Pairs not listed differ significantly (or could not be paired)."
    )
    return Table(
        "significance",
        "Methods that cannot be told apart",
        ["method", "method", "metric", "p", "seeds"],
        rows,
        note,
    )


def noise_floor_table(entries: list[ReportEntry]) -> Table | None:
    """Forget quality of each gold model against the other golds: what noise alone scores."""
    from clearbench.report.leaderboard import format_number

    rows = []
    for entry in entries:
        for other, values in ((entry.metrics or {}).get("gold_vs_gold") or {}).items():
            rows.append([entry.name, other, *(format_number(as_number(values.get(k))) for k in NOISE_KEYS)])
    if not rows:
        return None
    note = (
        "Gold models of different training seeds scored against each other as if one had unlearned: "
        "forget quality below these is indistinguishable from seed noise."
    )
    header = ["gold", "against", *(METRICS[k].header() for k in NOISE_KEYS)]
    return Table("noise_floor", "Noise floor of forget quality (gold vs gold)", header, rows, note)


NOISE_KEYS = ("forget_quality", "forget_quality_js")
