"""Which point of a sweep the leaderboard reports: a named rule, stated in the report.

- `fq_at_utility` (default): the best forget quality among the points whose model utility is at
  least `utility_fraction` (0.95) of the target's; when no point keeps that much utility, the point
  with the highest utility, marked as such. Forgetting counts only where the model stays useful.
- `mean_fq_utility`: the highest mean of forget quality and model utility (OpenUnlearning's way of
  ranking on both at once).

Forget quality is an effect size with a fixed scale by default, the calibrated 1 − JS (higher is
better); the KS statistic D (lower is better) is read as 1 − D, and a KS p-value as ln p, so a rule
never averages or ranks raw p-values.

Rules compare rows already aggregated over seeds (their means). Points are the rows of one method
and modality that differ only by their grid point.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearbench.errors import UserError
from clearbench.report.entries import ReportEntry
from clearbench.report.tables import Table, format_number


@dataclass
class Selection:
    rule: str = "fq_at_utility"
    utility_fraction: float = 0.95
    forget_quality: str = "forget_quality_js"  # metric keys (metric_table.py)
    utility: str = "model_utility"


RULES = {
    "fq_at_utility": "best {fq} among points with {utility} ≥ {fraction:g} × the target's",
    "mean_fq_utility": "highest mean of {fq} and {utility}",
}


def check(selection: Selection, where: str = "config key 'selection'") -> None:
    from clearbench.evaluate.metric_table import METRICS

    if selection.rule not in RULES:
        raise UserError(f"{where}.rule: unknown rule {selection.rule!r}; rules: {', '.join(RULES)}")
    for field in ("forget_quality", "utility"):
        key = getattr(selection, field)
        if key not in METRICS:
            raise UserError(
                f"{where}.{field}: {key!r} is not a computed metric; metrics: {', '.join(METRICS)}"
            )
    if not 0 < selection.utility_fraction <= 1:
        raise UserError(f"{where}.utility_fraction must be in (0, 1], got {selection.utility_fraction}")


def describe(selection: Selection) -> str:
    return RULES[selection.rule].format(
        fq=selection.forget_quality, utility=selection.utility, fraction=selection.utility_fraction
    )


def goodness(entry: ReportEntry, key: str) -> float | None:
    """The forget quality `key` of `entry` as "higher is better" on a fixed scale (1 − D, ln p)."""
    import math

    from clearbench.evaluate.metric_table import METRICS

    value, metric = entry.metric(key), METRICS[key]
    if value is None:
        return None
    if metric.statistic == "ks_p":
        return math.log(value) if value > 0 else -math.inf
    return value if metric.higher_is_better else 1.0 - value


def family(entry: ReportEntry) -> tuple:
    return (entry.kind, entry.method or entry.group, entry.modality)


def choose(
    points: list[ReportEntry], target: ReportEntry | None, selection: Selection
) -> tuple[ReportEntry, str]:
    """The chosen point and why."""
    fq, utility = selection.forget_quality, selection.utility
    scored = [p for p in points if goodness(p, fq) is not None and p.metric(utility) is not None]
    if not scored:
        return points[0], f"no point has {fq} and {utility}; the first is shown"
    if selection.rule == "mean_fq_utility":
        return max(scored, key=lambda p: (goodness(p, fq) + p.metric(utility)) / 2), describe(selection)
    floor = (
        None
        if target is None or target.metric(utility) is None
        else selection.utility_fraction * target.metric(utility)
    )
    if floor is None:
        return max(scored, key=lambda p: goodness(p, fq)), f"best {fq} (no target {utility} to compare with)"
    kept = [p for p in scored if p.metric(utility) >= floor]
    if not kept:
        return max(
            scored, key=lambda p: p.metric(utility)
        ), f"no point keeps {utility} ≥ {floor:.3f}: highest {utility}"
    return max(kept, key=lambda p: goodness(p, fq)), describe(selection)


def select(entries: list[ReportEntry], selection: Selection) -> tuple[list[ReportEntry], Table | None]:
    """The rows the leaderboard shows (one point per method and modality) and the table of every
    swept point; no table when nothing was swept."""
    families: dict[tuple, list[ReportEntry]] = {}
    for entry in entries:
        if entry.point is not None:  # a swept point; other rows are shown as they are
            families.setdefault(family(entry), []).append(entry)
    target = next((e for e in entries if e.kind == "target"), None)
    chosen, rows = {id(entry): entry for entry in entries if entry.point is None}, []
    for key, points in families.items():
        if len(points) == 1 or key[0] != "unlearned":
            chosen.update({id(p): p for p in points})
            continue
        pick, why = choose(points, target, selection)
        chosen[id(pick)] = pick
        for point in points:
            rows.append(
                [
                    point.name,
                    format_number(point.metric(selection.forget_quality)),
                    format_number(point.metric(selection.utility)),
                    "selected: " + why if point is pick else "",
                ]
            )
    shown = [entry for entry in entries if id(entry) in chosen]
    if not rows:
        return shown, None
    header = ["point", selection.forget_quality, selection.utility, "selection"]
    note = f"Selection rule '{selection.rule}': {describe(selection)}. The leaderboard shows the selected points."
    return shown, Table("sweep", "Swept points and the selected one", header, rows, note)
