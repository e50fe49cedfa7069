"""How much forgotten knowledge an attack brings back: pure functions of eval logs.

The verdict comes from the residual share, every term measured under the same attack:

    share = (m_model − m_gold) / (m_target − m_gold)

before the attack (clean logs) and after it (target and gold attacked the same way as the model),
pooled over the forget tasks, with a 95 % interval from the bootstrap over people (the same people
drawn for all three models). 0: the model knows what gold knows; 1: what the target knows; below 0:
less than gold. When the target–gold gap's own interval holds 0, the share is "not measurable" (a
tiny gap would turn a small change into a huge share). An attack that lowers every score cannot hide
a model whose share rose, and a model that knows less than attacked gold has a share below 0.

The older measure, kept for the table:

Recovered knowledge of one forget task, for a per-task score m (default: Prob, the probability the
model gives the true answer; see `task_metrics`):

    recovered = (m_attacked − m_unlearned) / (m_target − m_gold)

0: the attack recovers nothing; 1: it closes the whole gap between gold (never knew) and target
(knows); it can exceed 1 or fall below 0. None when |m_target − m_gold| < NEAR_ZERO: a task the
target never learned beyond gold says nothing about recovery. All four values are taken on the
rows the attack asked (its evaluation part, for relearning). Pooled over the forget tasks, each m
is the unweighted mean of the per-task values, so a task with a small gap weighs little.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from clearbench.evaluate.logs import samples
from clearbench.evaluate.tasks import report_order

NEAR_ZERO = 1e-6
RESAMPLES = 1000
SCORES = ("prob", "rouge", "truth_preference")
# The forget-quality and forget metrics reported before and after each attack (metric_table keys).
FORGET_KEYS = (
    "forget",
    "forget_quality",
    "forget_quality_js",
    "forget_text",
    "forget_quality_text",
    "forget_quality_text_js",
    "forget_quality_both",
    "forget_quality_both_js",
)


def recovered_knowledge(attacked, unlearned, target, gold, tolerance: float = NEAR_ZERO) -> float | None:
    """(m_attacked − m_unlearned) / (m_target − m_gold); None when a value is missing or the gap is ~0."""
    values = (attacked, unlearned, target, gold)
    if any(value is None or not math.isfinite(value) for value in values):
        return None
    gap = target - gold
    if abs(gap) < tolerance:
        return None
    return (attacked - unlearned) / gap


def subset_log(log: Mapping, rows: Sequence[str]) -> dict:
    """`log` with only the per-sample values of `rows` (string indices); header keys kept.

    Every mapping in a log is per-sample ({"0": value, ...}, logs.py); the header is plain values.
    """
    keep = set(rows)
    return {
        key: {index: value for index, value in entry.items() if index in keep}
        if isinstance(entry, Mapping)
        else entry
        for key, entry in log.items()
    }


def asked_rows(log: Mapping) -> list[str]:
    """The row indices a log holds (its per-sample keys)."""
    return list(log["avg_gt_loss"])


def on_rows(logs: Mapping[str, Mapping], like: Mapping[str, Mapping]) -> dict[str, dict]:
    """`logs` cut to the tasks and rows of `like` (the attacked logs)."""
    return {task: subset_log(logs[task], asked_rows(log)) for task, log in like.items() if task in logs}


def task_scores(logs: Mapping[str, Mapping], score: str = "prob") -> dict[str, float]:
    """Task -> the per-task score `score` (one of SCORES) of each task log."""
    from clearbench.evaluate.metrics import task_metrics

    return {task: task_metrics(log)[score] for task, log in logs.items() if len(samples(log, "avg_gt_loss"))}


def recovery(
    attacked: Mapping[str, float],
    unlearned: Mapping[str, float],
    target: Mapping[str, float],
    gold: Mapping[str, float],
) -> dict:
    """Per task and pooled: the four values and the recovered knowledge, from task -> score maps."""
    tasks = [task for task in report_order(attacked) if all(task in m for m in (unlearned, target, gold))]
    per_task = {}
    for task in tasks:
        values = {
            "attacked": attacked[task],
            "unlearned": unlearned[task],
            "target": target[task],
            "gold": gold[task],
        }
        per_task[task] = {**values, "recovered": recovered_knowledge(**values)}
    pooled: dict = {"tasks": tasks}
    if tasks:
        for role, values in (
            ("attacked", attacked),
            ("unlearned", unlearned),
            ("target", target),
            ("gold", gold),
        ):
            pooled[role] = sum(values[task] for task in tasks) / len(tasks)
        pooled["recovered"] = recovered_knowledge(
            pooled["attacked"], pooled["unlearned"], pooled["target"], pooled["gold"]
        )
    else:
        pooled |= {"attacked": None, "unlearned": None, "target": None, "gold": None, "recovered": None}
    return {"per_task": per_task, "pooled": pooled}


def forget_metrics(logs: Mapping[str, Mapping], gold_logs: Mapping[str, Mapping] | None) -> dict:
    """The FORGET_KEYS of `compute_metrics(logs, gold_logs)`: forget quality (KS p, 1 − JS) against
    gold asked the same way, and the paper's Forget aggregates; None where not computable."""
    from clearbench.evaluate.metrics import compute_metrics

    metrics = compute_metrics(dict(logs), dict(gold_logs) if gold_logs is not None else None)
    return {key: metrics.get(key) for key in FORGET_KEYS}


def residual_share(
    model: Mapping[str, Mapping],
    target: Mapping[str, Mapping],
    gold: Mapping[str, Mapping],
    score: str = "prob",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict:
    """(m_model − m_gold) / (m_target − m_gold) of the task logs of three models asked the same
    rows, pooled over their shared tasks (the unweighted mean of per-task means), with person-
    bootstrap intervals of the share and of the gap m_target − m_gold.

    {"model", "target", "gold", "gap", "gap_interval", "share", "interval", "measurable", "reason"}.
    """
    import numpy as np

    from clearbench.evaluate.bootstrap import Units, _percentiles, row_values, weighted_mean
    from clearbench.evaluate.logs import normalise

    tasks = [task for task in report_order(model) if task in target and task in gold]
    found: dict = {"model": None, "target": None, "gold": None, "gap": None, "gap_interval": None}
    found |= {"share": None, "interval": None, "measurable": False}
    if not tasks:
        return found | {"reason": "no forget task asked of all three models"}
    rows = {
        task: [
            r
            for r in asked_rows(model[task])
            if r in target[task]["avg_gt_loss"] and r in gold[task]["avg_gt_loss"]
        ]
        for task in tasks
    }
    logs = {
        role: {task: normalise(task, subset_log(source[task], rows[task])) for task in tasks}
        for role, source in (("model", model), ("target", target), ("gold", gold))
    }
    units = Units(logs["model"])
    few = [task for task in tasks if len(set(units.rows[task])) < 2]
    if few:
        return found | {"reason": f"fewer than 2 people asked in {', '.join(few)}: no noise to measure"}
    weights = np.vstack([np.ones((1, units.count)), units.weights(resamples, np.random.default_rng(seed))])
    pooled = {}
    for role, role_logs in logs.items():
        per_task = [
            weighted_mean(row_values(role_logs[task], "clearbench")[score], units.rows[task], weights)
            for task in tasks
        ]
        pooled[role] = np.mean(per_task, axis=0)  # first entry: the logs as they are
    gap = pooled["target"] - pooled["gold"]
    found |= {role: float(values[0]) for role, values in pooled.items()}
    found |= {"gap": float(gap[0]), "gap_interval": _percentiles(gap[1:])}
    low, high = found["gap_interval"]
    if low <= 0 <= high or gap[0] == 0:
        return found | {
            "reason": f"the target–gold gap {gap[0]:.3g} is within its noise ([{low:.3g}, {high:.3g}] "
            "over people): no share of it can be measured"
        }
    share = (pooled["model"] - pooled["gold"]) / gap
    return found | {
        "share": float(share[0]),
        "interval": _percentiles(share[1:]),
        "measurable": True,
        "reason": None,
        "method": units.describe(resamples),
    }


def survival_verdict(after: Mapping | None, threshold: float) -> tuple[str, str]:
    """("survived" | "not survived" | "undecided" | "not measurable" | "unknown", why) from the
    residual share after the attack: survived when its interval stays ≤ threshold, not survived when
    it lies above it, undecided when it straddles it."""
    if not after:
        return "unknown", "no residual share recorded"
    if not after.get("measurable"):
        return "not measurable", after.get("reason") or "the target–gold gap is not measurable"
    low, high = after["interval"]
    if high <= threshold:
        return "survived", f"share [{low:.2f}, {high:.2f}] ≤ {threshold:g}"
    if low > threshold:
        return "not survived", f"share [{low:.2f}, {high:.2f}] > {threshold:g}"
    return "undecided", f"share [{low:.2f}, {high:.2f}] holds {threshold:g}"
