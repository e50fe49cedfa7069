"""Several seeds of one model, as one leaderboard row, and which methods the seeds can tell apart.

- Runs that share a training seed share target and gold: they are not independent. So the unlearning
  seeds are averaged within each training seed first, and everything else is over training seeds.
- Interval over seeds: Student's t, mean ± t(0.975, n − 1) · s / √n over the n training seeds (over
  the unlearning seeds when there is one training seed, said so), cut to the metric's range.
  P-values (KS forget quality, its log) get no interval: a mean ± t · s of p-values leaves [0, 1]
  and covers nothing; their effect sizes (KS D, 1 − JS) carry the intervals.
- A row of one seed keeps the interval its metrics carry: the bootstrap over people
  (`clearbench.evaluate.bootstrap`). A group with one completed run shows that run, without interval.
- Comparisons: a paired t-test per pair of methods and metric over the training seeds they share,
  on the effect sizes (KS D, 1 − JS) and model utility, Holm-corrected over every comparison made
  (Holm 1979: the family-wise error stays ≤ 5 %). With the minimum difference the design can detect
  (80 % power at the strictest Holm level), and a plain sentence where no ordering survives.
- The noise floor: gold models of different training seeds scored against each other (or, with one
  seed, gold against gold with independent draws of people). A method whose effect-size interval
  reaches into that range is as gold-like as another gold: indistinguishable from gold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from itertools import combinations

import numpy as np
from scipy import stats

from clearbench.evaluate.metric_table import METRICS, Metric
from clearbench.report.entries import ReportEntry, as_number
from clearbench.report.tables import Table, format_number

LEVEL = 0.95
ALPHA = 0.05
POWER = 0.8
T_METHOD = "t-interval over {n} training seeds (unlearning seeds averaged within each), 95 %"
T_METHOD_UNLEARN = (
    "t-interval over {n} unlearning seeds of one training seed (training noise not in it), 95 %"
)
CORRECTION = "Holm"
# The comparisons: effect sizes with a fixed scale (never raw p-values) and model utility.
SIGNIFICANCE_KEYS = ("forget_quality_ks_statistic", "forget_quality_js", "model_utility")
# Effect sizes compared with the gold-vs-gold noise floor; True: higher is more gold-like.
GOLD_LIKE_KEYS = {
    "forget_quality_ks_statistic": False,
    "forget_quality_js": True,
    "forget_quality_text_ks_statistic": False,
    "forget_quality_text_js": True,
}


def metric_range(metric: Metric) -> tuple[float, float]:
    """The values a metric can take: [0, 1] but for PrivLeak [−1, ∞) and ln p (−∞, 0]."""
    if metric.membership == "privleak":
        return -1.0, math.inf
    if metric.statistic == "ks_log":
        return -math.inf, 0.0
    return 0.0, 1.0


def has_interval(metric: Metric) -> bool:
    """P-values and their logs get none (see the module docstring)."""
    return metric.statistic not in ("ks_p", "ks_log")


def t_interval(values: list[float], bounds=(-math.inf, math.inf)) -> tuple[float, float, float] | None:
    """(mean, low, high) of the 95 % t-interval, cut to `bounds`; None with fewer than two values."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    half = stats.t.ppf(1 - (1 - LEVEL) / 2, len(values) - 1) * stats.sem(values)
    return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)


def paired_p_value(a: list[float], b: list[float]) -> float | None:
    """Two-sided paired t-test p-value; 1 when every difference is 0; None with fewer than 2 pairs."""
    if len(a) < 2:
        return None
    if all(x == y for x, y in zip(a, b, strict=True)):
        return 1.0
    p = stats.ttest_rel(a, b).pvalue
    return None if math.isnan(p) else float(p)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values: sorted ascending, p_(i) · (m − i + 1), running maximum, ≤ 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, p_values[index] * (m - rank)))
        adjusted[index] = running
    return adjusted


def groups(entries: Iterable[ReportEntry]) -> dict[str, list[ReportEntry]]:
    found: dict[str, list[ReportEntry]] = {}
    for entry in entries:
        found.setdefault(entry.group, []).append(entry)
    return found


def by_training_seed(runs: list[ReportEntry], key: str) -> dict:
    """Training seed -> the mean of `key` over its unlearning seeds (runs lacking it left out)."""
    found: dict = {}
    for run in runs:
        value = run.metric(key)
        if value is not None:
            found.setdefault(run.train_seed, []).append(value)
    return {seed: sum(values) / len(values) for seed, values in found.items()}


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
        elif len(done) == 1:  # the one completed run, as it is: one seed gives no interval
            why = f"one completed run of {len(members)}: no interval"
            metrics = {**done[0].metrics, "intervals": {"method": None, "values": {}, "reason": why}}
            rows.append(replace(row, status="completed", metrics=metrics))
        else:
            rows.append(replace(row, status="completed", metrics=_mean_metrics(done)))
    return rows


def _mean_metrics(members: list[ReportEntry]) -> dict:
    train_seeds = {m.train_seed for m in members}
    per_train = len(train_seeds) > 1
    metrics: dict = {"seeds": len(members), "compat": members[0].metrics.get("compat")}
    intervals = {}
    for key, metric in METRICS.items():
        values = [m.metric(key) for m in members]
        if any(v is None for v in values):
            metrics[key] = None
            continue
        # Over training seeds (unlearning seeds averaged within each); else over unlearning seeds.
        points = list(by_training_seed(members, key).values()) if per_train else values
        metrics[key] = sum(points) / len(points)
        found = t_interval(points, metric_range(metric)) if has_interval(metric) else None
        if found is not None:
            intervals[key] = [found[1], found[2]]
    method = T_METHOD.format(n=len(train_seeds)) if per_train else T_METHOD_UNLEARN.format(n=len(members))
    metrics["intervals"] = {"method": method, "values": intervals}
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
    """How the shown intervals were computed, and why a row has none, each once (for the legend)."""
    methods = []
    for entry in entries:
        found = (entry.metrics or {}).get("intervals") or {}
        if isinstance(found.get("method"), str):
            methods.append(found["method"])
        elif isinstance(found.get("reason"), str):
            methods.append(f"{entry.name}: {found['reason']}")
    return list(dict.fromkeys(methods))


# ---- comparisons ------------------------------------------------------------------------------------


def comparisons(entries: list[ReportEntry], keys: tuple[str, ...] = SIGNIFICANCE_KEYS) -> list[dict]:
    """Every pair of methods on every metric: paired t-test over their shared training seeds (each
    the mean over its unlearning seeds), Holm-adjusted over all the comparisons made."""
    methods = {
        group: [m for m in members if m.status == "completed"]
        for group, members in groups(entries).items()
        if members[0].kind == "unlearned"
    }
    found = []
    for (a, runs_a), (b, runs_b) in combinations(methods.items(), 2):
        for key in keys:
            ours, theirs = by_training_seed(runs_a, key), by_training_seed(runs_b, key)
            shared = sorted(set(ours) & set(theirs), key=str)
            x, y = [ours[s] for s in shared], [theirs[s] for s in shared]
            p = paired_p_value(x, y)
            if p is not None:
                difference = sum(x) / len(x) - sum(y) / len(y)
                found.append(
                    {"a": a, "b": b, "metric": key, "p_value": p, "seeds": len(x), "difference": difference}
                )
                found[-1]["differences"] = [u - v for u, v in zip(x, y)]
    for comparison, adjusted in zip(found, holm([c["p_value"] for c in found])):
        comparison["p_adjusted"] = adjusted
        comparison["differ"] = adjusted < ALPHA
    return found


def indistinguishable(entries: list[ReportEntry], keys: tuple[str, ...]) -> list[dict]:
    """The compared pairs whose difference does not survive the correction."""
    return [c for c in comparisons(entries, keys) if not c["differ"]]


def detectable_difference(found: list[dict], key: str) -> float | None:
    """The smallest mean difference on `key` a paired t-test over these seeds detects with 80 %
    power at the strictest Holm level α / m: (t(1 − α/2m, n − 1) + t(0.8, n − 1)) · s_d / √n, s_d the
    pooled standard deviation of the paired differences. None with fewer than 2 seeds."""
    mine = [c for c in found if c["metric"] == key and c["seeds"] >= 2]
    if not mine:
        return None
    n = min(c["seeds"] for c in mine)
    spread = math.sqrt(np.mean([np.var(c["differences"], ddof=1) for c in mine]))
    quantile = stats.t.ppf(1 - ALPHA / (2 * len(found)), n - 1) + stats.t.ppf(POWER, n - 1)
    return float(quantile * spread / math.sqrt(n))


def ranking_sentences(found: list[dict], keys: tuple[str, ...] = SIGNIFICANCE_KEYS) -> list[str]:
    """Per metric, the orderings that survive the correction, or that none does."""
    lines = []
    for key in keys:
        mine = [c for c in found if c["metric"] == key]
        if not mine:
            continue
        label, better_high = METRICS[key].label, METRICS[key].higher_is_better
        kept = []
        for c in mine:
            if c["differ"]:
                first, second = (c["a"], c["b"]) if (c["difference"] > 0) == better_high else (c["b"], c["a"])
                kept.append(f"{first} better than {second}")
        mdd = detectable_difference(found, key)
        limit = (
            f" (differences below {mdd:.3g} are not detectable with these seeds)" if mdd is not None else ""
        )
        if kept:
            lines.append(f"{label}: {'; '.join(kept)}{limit}.")
        else:
            lines.append(f"{label}: the seeds cannot rank the methods{limit}.")
    return lines


# ---- tables ---------------------------------------------------------------------------------------


def significance_table(entries: list[ReportEntry]) -> Table | None:
    """Every compared pair of methods per metric, with its Holm-adjusted verdict; None with one seed."""
    if all(len(members) < 2 for members in groups(entries).values()):
        return None
    found = comparisons(entries)
    rows = [
        [
            c["a"],
            c["b"],
            c["metric"],
            format_number(c["difference"]),
            format_number(c["p_value"], p_value=True),
            format_number(c["p_adjusted"], p_value=True),
            str(c["seeds"]),
            "differ" if c["differ"] else "cannot be told apart",
        ]
        for c in found
    ]
    note = (
        "Paired t-test over the training seeds both methods share (unlearning seeds averaged within "
        f"each), on effect sizes and model utility, {CORRECTION}-corrected over the {len(found)} "
        f"comparisons (family-wise error ≤ {ALPHA:g}). " + " ".join(ranking_sentences(found))
    )
    if not found:
        note = (
            "No two methods share two training seeds: the seeds cannot rank the methods (runs of one "
            "training seed share target and gold, so unlearning seeds alone are not compared)."
        )
    header = ["method", "method", "metric", "difference", "p", f"p ({CORRECTION})", "seeds", "verdict"]
    return Table("significance", "Which methods the seeds can tell apart", header, rows, note)


def noise_floor(entries: list[ReportEntry]) -> dict[str, tuple[float, float]]:
    """Effect size -> the range gold-vs-gold pairs of training seeds span (empty with one gold)."""
    found: dict[str, list[float]] = {}
    for entry in entries:
        for values in ((entry.metrics or {}).get("gold_vs_gold") or {}).values():
            for key in GOLD_LIKE_KEYS:
                value = as_number(values.get(key))
                if value is not None:
                    found.setdefault(key, []).append(value)
    return {key: (min(values), max(values)) for key, values in found.items()}


def gold_like(entry: ReportEntry, key: str, floor: dict) -> str | None:
    """Whether `entry`'s interval of effect size `key` reaches into gold-vs-gold variation: from the
    seeds' gold pairs (`floor`), else its bootstrap's gold against gold; None without either."""
    span = floor.get(key)
    if span is None:
        bootstrap = ((entry.metrics or {}).get("intervals") or {}).get("gold_floor") or {}
        span = tuple(bootstrap[key]) if isinstance(bootstrap.get(key), list) else None
    found = interval(entry, key)
    if span is None or found is None:
        return None
    overlaps = found[1] >= span[0] if GOLD_LIKE_KEYS[key] else found[0] <= span[1]
    return "indistinguishable from gold" if overlaps else "differs from gold"


def gold_like_table(entries: list[ReportEntry], seed_runs: list[ReportEntry]) -> Table | None:
    """Each unlearned row: its effect-size interval, gold-vs-gold variation, and the verdict."""
    floor, rows = noise_floor(seed_runs), []
    for entry in entries:
        if entry.kind != "unlearned" or entry.status != "completed":
            continue
        for key in GOLD_LIKE_KEYS:
            verdict = gold_like(entry, key, floor)
            if verdict is None:
                continue
            low, high = interval(entry, key)
            span = floor.get(key) or entry.metrics["intervals"]["gold_floor"][key]
            source = "gold vs gold over training seeds" if key in floor else "gold vs gold over people"
            rows.append(
                [
                    entry.name,
                    METRICS[key].label,
                    f"{format_number(entry.metric(key))} [{format_number(low)}, {format_number(high)}]",
                    f"{format_number(span[0])}–{format_number(span[1])} ({source})",
                    verdict,
                ]
            )
    if not rows:
        return None
    note = (
        "A method whose interval of KS D reaches down into (of 1 − JS, up into) the range gold "
        "scores against another gold (other training seeds; with one seed, independent draws of "
        "people) is as gold-like as another gold: indistinguishable from gold."
    )
    header = ["model", "effect size", "value [95 % interval]", "gold vs gold", "verdict"]
    return Table("gold_like", "Which models cannot be told from gold", header, rows, note)


def noise_floor_table(entries: list[ReportEntry]) -> Table | None:
    """Forget quality of each gold model against the other golds, each pair once."""
    rows, seen = [], set()
    for entry in entries:
        for other, values in ((entry.metrics or {}).get("gold_vs_gold") or {}).items():
            pair = frozenset((entry.name, other))
            if pair in seen:  # the statistics are symmetric: a pair once
                continue
            seen.add(pair)
            rows.append(
                [
                    entry.name,
                    other,
                    *(
                        format_number(as_number(values.get(k)), p_value=METRICS[k].p_value)
                        for k in NOISE_KEYS
                    ),
                ]
            )
    if not rows:
        return None
    note = (
        "Gold models of different training seeds scored against each other as if one had unlearned: "
        "what seed noise alone gives. A method at or beyond these values (KS p or 1 − JS as high, KS D "
        "as low) is as gold-like as another gold; only a KS D above (1 − JS below) this range shows a "
        "difference from gold beyond noise (the gold_like table)."
    )
    header = ["gold", "against", *(METRICS[k].header() for k in NOISE_KEYS)]
    return Table("noise_floor", "Noise floor of forget quality (gold vs gold)", header, rows, note)


NOISE_KEYS = ("forget_quality", "forget_quality_ks_statistic", "forget_quality_js")
