"""Intervals from one seed: the headline metrics recomputed on PEOPLE drawn with replacement.

A person's photos and questions share one face and one biography, so their rows are not independent
draws; resampling rows as if they were gives intervals far too narrow (a row bootstrap's nominal
95 % interval of an MIA AUC at 2 + 2 people × 14 rows covered the truth in 45 % of simulated worlds,
tests/test_bootstrap_people.py). Each resample draws, within each stratum, as many people as it
holds, with replacement, and takes all of a drawn person's rows together (the cluster bootstrap,
Davison & Hinkley 1997, §3.8). A stratum is the set of people seen by the same tasks (forget people,
retain people, holdout people, ...), so every resample has as many forget and holdout people as the
evaluation. Candidate and gold draw the same people (their logs hold the same rows). A row whose
person the log does not record (evaluate/people.py) is its own unit, and the method says so.

The interval is the percentile interval (Efron & Tibshirani 1993, ch. 13): it stays inside the
metric's range. It measures how much the numbers depend on which people were asked, not training
randomness: that is what seeds are for (`report.seeds`).

P-values get no interval: a percentile bootstrap of a KS p-value has nothing to cover (its
resampled values sit below the original in almost every draw). The effect sizes carry the
intervals: the KS statistic D and the calibrated 1 − JS. `gold_floor` gives the same effect sizes
of gold against gold with two independent draws of people: the spread that noise alone produces
(`report.seeds` marks a method whose interval overlaps it as indistinguishable from gold).

Everything is arithmetic on per-row values computed once: a resample is a weight per person, and
every metric a weighted function of the rows (vectorised over resamples with numpy), so 1,000
resamples cost well under a second per model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax

from clearbench.errors import UserError
from clearbench.evaluate.logs import normalise, samples
from clearbench.evaluate.metric_table import ATTACKS, HEADLINE_ATTACK, METRICS
from clearbench.evaluate.people import log_people
from clearbench.evaluate.stronger import STRONGER_ATTACKS

LEVEL = 0.95
DEFAULT_RESAMPLES = 1000
DESCRIPTION = "bootstrap over people, {n} resamples, 95 % percentile interval"
ROW_DESCRIPTION = "bootstrap over rows (the logs name no person), {n} resamples, 95 % percentile interval"
# Statistics with an interval; a p-value (ks_p, ks_log) has none.
EFFECT_SIZES = ("ks_statistic", "js")


# ----- who is drawn ---------------------------------------------------------------------------------


def draw_counts(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples × n): how often each of n units is drawn in n draws with replacement (a
    multinomial, counted with one bincount: far faster than `Generator.multinomial` for many units)."""
    drawn = rng.integers(0, n, (resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(drawn.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


class Units:
    """The resampling units (people, or rows without one) of a set of task logs, and their strata."""

    def __init__(self, logs: dict[str, dict]):
        ids: dict[tuple, int] = {}
        self.rows: dict[str, np.ndarray] = {}  # task -> unit index of each row (sample order)
        self.unnamed: list[str] = []  # tasks with rows of no recorded person
        for task, log in logs.items():
            people = log_people(log) or [None] * len(log["avg_gt_loss"])
            keys = [("person", p) if p else ("row", task, i) for i, p in enumerate(people)]
            if any(p is None for p in people):
                self.unnamed.append(task)
            self.rows[task] = np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=int)
        self.count = len(ids)
        self.people = sum(1 for key in ids if key[0] == "person")
        tasks_of: list[set] = [set() for _ in range(self.count)]
        for task, units in self.rows.items():
            for unit in np.unique(units):
                tasks_of[unit].add(task)
        strata: dict[frozenset, list[int]] = {}
        for unit, tasks in enumerate(tasks_of):
            strata.setdefault(frozenset(tasks), []).append(unit)
        self.strata = [np.array(units) for units in strata.values()]

    def weights(self, resamples: int, rng: np.random.Generator) -> np.ndarray:
        """(resamples × units) how often each unit is drawn; each stratum keeps its size."""
        drawn = np.zeros((resamples, self.count))
        for units in self.strata:
            drawn[:, units] = draw_counts(len(units), resamples, rng)
        return drawn

    def describe(self, resamples: int) -> str:
        if self.people == 0:
            return ROW_DESCRIPTION.format(n=resamples)
        text = DESCRIPTION.format(n=resamples)
        if self.unnamed:
            text += f" (rows naming no person, each its own unit: {', '.join(self.unnamed)})"
        return text


def check_people(units: Units, logs: dict[str, dict]) -> None:
    """A bootstrap needs at least two units to draw from in every task."""
    for task, rows in units.rows.items():
        if len(np.unique(rows)) < 2:
            raise UserError(
                f"bootstrap: task {task!r} holds rows of fewer than 2 people; a bootstrap over people "
                "needs at least 2"  # no path: the metrics of a moved or reused run stay equal
            )


# ----- weighted statistics, one value per resample -----------------------------------------------


def weighted_mean(values: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per resample, the mean of per-row `values` with each row weighted by its unit's draw count."""
    count = weights.shape[1]
    sums = np.bincount(rows, weights=values, minlength=count)
    sizes = np.bincount(rows, minlength=count).astype(float)
    return (weights @ sums) / (weights @ sizes)


def harmonic(columns: list[np.ndarray]) -> np.ndarray:
    """Row-wise harmonic mean; 0 where any value is ≤ 0 (as `metrics.harmonic_mean`)."""
    stacked = np.stack(columns, axis=1)
    positive = np.all(stacked > 0, axis=1)
    safe = np.where(stacked > 0, stacked, 1.0)
    return np.where(positive, stacked.shape[1] / np.sum(1.0 / safe, axis=1), 0.0)


def ks_statistic(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Per resample, the two-sample KS statistic D of samples `a`, `b` with row weights `wa`, `wb`
    (resamples × rows): max |F_a − F_b| of the weighted empirical distributions (ks_2samp's D with
    unit weights)."""
    values = np.concatenate([a, b])
    order = np.argsort(values, kind="stable")
    weights_a = np.concatenate([wa, np.zeros_like(wb)], axis=1)[:, order]
    weights_b = np.concatenate([np.zeros_like(wa), wb], axis=1)[:, order]
    cdf_a = np.cumsum(weights_a, axis=1) / weights_a.sum(axis=1, keepdims=True)
    cdf_b = np.cumsum(weights_b, axis=1) / weights_b.sum(axis=1, keepdims=True)
    ordered = values[order]
    last = np.append(ordered[1:] != ordered[:-1], True)  # the CDFs are compared after each tie
    return np.max(np.abs(cdf_a - cdf_b)[:, last], axis=1)


def calibrated_js(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Per resample, `metrics.forget_quality_js` of the samples with each row repeated as often as
    its weight says: the pooled sample's quantiles (numpy's linear interpolation on the repeated
    sample) as bin edges, weighted counts, JS divergence less its null bias."""
    from clearbench.evaluate.metrics import JS_BINS, JS_MIN_ROWS, js_null_scale

    values = np.concatenate([a, b])
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    pooled = np.concatenate([wa, wb], axis=1)[:, order]
    cumulative = np.cumsum(pooled, axis=1)
    n, m = wa.sum(axis=1), wb.sum(axis=1)

    def value_at(position: np.ndarray) -> np.ndarray:  # the repeated sorted sample's value there
        index = np.sum(cumulative <= position[:, None], axis=1)
        return ordered[np.minimum(index, len(ordered) - 1)]

    def score(bins: int) -> np.ndarray:
        counts = np.zeros((len(n), 2, bins))
        where = np.zeros((len(n), len(values)), dtype=int)
        for q in np.arange(1, bins) / bins:
            h = (n + m - 1) * q
            low = np.floor(h)
            edge = value_at(low) + (h - low) * (value_at(low + 1) - value_at(low))
            where += values[None, :] >= edge[:, None]
        for side, weights in (
            (0, np.concatenate([wa, np.zeros_like(wb)], axis=1)),
            (1, np.concatenate([np.zeros_like(wa), wb], axis=1)),
        ):
            for k in range(bins):
                counts[:, side, k] = np.sum(weights * (where == k), axis=1)
        p, q = counts[:, 0] / n[:, None], counts[:, 1] / m[:, None]
        mix = (p + q) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log2(p / mix), 0) + np.where(q > 0, q * np.log2(q / mix), 0)
        divergence = np.sum(terms, axis=1) / 2
        used = np.sum(counts.sum(axis=1) > 0, axis=1)
        bias = (used - 1) * js_null_scale(n, m)
        return 1.0 - np.sqrt(np.maximum(0.0, divergence - bias) / (1.0 - bias))

    few = np.minimum(n, m) < JS_MIN_ROWS
    found = score(JS_BINS)
    if few.any():
        found = np.where(few, score(2), found)
    return found


def auc(members, others, member_weights: np.ndarray, other_weights: np.ndarray) -> np.ndarray:
    """Per resample, the ROC-AUC of members vs others with row weights (resamples × rows; at unit
    weights `membership.roc_auc`): Σ_ij w_i v_j ([s_i > t_j] + ½[s_i = t_j]) / (Σ w · Σ v).

    From the sorted scores: each member row counts the others' weight below its score and half
    that at it, so a resample costs O(rows), not rows².
    """
    scores = np.concatenate([np.asarray(members, dtype=float), np.asarray(others, dtype=float)])
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # tie groups of the sorted scores
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]])[np.argsort(order)] - 1  # group of each row
    n = member_weights.shape[1]
    other = np.concatenate([np.zeros_like(member_weights), other_weights], axis=1)[:, order]
    at = np.add.reduceat(other, starts, axis=1)  # others' weight at each distinct score
    below = np.cumsum(at, axis=1) - at
    credit = below + 0.5 * at  # what a member at that score wins
    won = np.sum(member_weights * credit[:, group[:n]], axis=1)
    return won / (member_weights.sum(axis=1) * other_weights.sum(axis=1))


# ----- per-row values of a log --------------------------------------------------------------------


def row_values(log: dict, compat: str) -> dict[str, np.ndarray]:
    """The per-row values whose means are the task's scores (`metrics.task_metrics`)."""
    from clearbench.evaluate.logs import has_rouge
    from clearbench.evaluate.metrics import rouge_recalls, task_log_ratios

    gt = np.asarray(samples(log, "avg_gt_loss"), dtype=float)
    found = {"loss": gt}
    if log["holdout"]:
        return found
    if log["prob_kind"] == "answer":
        found["prob"] = np.exp(-gt)
    else:
        wrong = samples(log, "average_perturb_loss")
        found["prob"] = np.array([softmax(-np.concatenate([[g], w]))[0] for g, w in zip(gt, wrong)])
    ratios = task_log_ratios(log, compat)
    found["log_ratio"] = ratios
    # `metrics.truth_ratio_score` of each row: max(0, 1 − 1/R); on forget tasks min(R, 1/R)
    found["truth_preference"] = np.maximum(0.0, -np.expm1(-ratios))
    found["truth_ratio"] = np.exp(-np.abs(ratios)) if log["forget"] else found["truth_preference"]
    if has_rouge(log):
        found["rouge"] = np.asarray(samples(log, "rougeL_recall"), dtype=float)
    else:
        found["rouge"] = np.array(
            [rouge_recalls(ref, gen)["rougeL_recall"] for _, gen, ref in samples(log, "generated_text")]
        )
    return found


# ----- the intervals ------------------------------------------------------------------------------


def bootstrap_intervals(
    candidate: dict,
    gold: dict | None,
    *,
    compat: str,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    reference: dict | None = None,
) -> dict:
    """{"method", "units", "values": {metric: [low, high]}, "no_interval": {metric: why},
    "gold_floor": {metric: [low, high]}, "membership": {scope: {attack: {...}}}}.

    `values` holds an interval for every metric with a value and per-row terms; `no_interval` says
    why the others have none; `gold_floor` the effect sizes of gold vs gold under independent draws
    of people; `membership` per scope and attack the intervals of AUC, gold's AUC, PrivLeak and
    |AUC − AUC_gold|, of the four and of each stronger attack the logs score (`reference`: the base
    model's logs, as `compute_metrics` takes them)."""
    from clearbench.evaluate.metrics import compute_metrics, tasks_for

    if resamples < 2:
        raise UserError(f"bootstrap: at least 2 resamples are needed, got {resamples}")
    candidate = {task: normalise(task, log) for task, log in candidate.items()}
    if gold is not None:
        gold = {task: normalise(task, log) for task, log in gold.items()}
    point = compute_metrics(candidate, gold, compat=compat)  # also checks candidate and gold agree
    units = Units(candidate)
    check_people(units, candidate)
    rng = np.random.default_rng(seed)
    weights = units.weights(resamples, rng)
    draws = _Draws(
        candidate, gold, units, weights, compat, resamples, rng,
        ours={task: row_values(log, compat) for task, log in candidate.items()},
        theirs={task: row_values(log, compat) for task, log in gold.items()} if gold else {},
        reference=reference,
    )  # fmt: skip
    chosen = tasks_for(candidate, compat)
    for key, metric in METRICS.items():  # in the table's order: the draws of gold's floor follow it
        if point.get(key) is not None:
            draws.add(key, metric, chosen[key])
    no_interval = draws.no_interval
    values = {key: _percentiles(found) for key, found in draws.draws.items() if np.all(np.isfinite(found))}
    for key in draws.draws:
        if key not in values:
            no_interval[key] = "undefined in some resamples"
    membership_intervals = {
        scope: {
            attack: {name: _percentiles(found) for name, found in results.items() if found is not None}
            for attack, results in attacks.items()
        }
        for scope, attacks in draws.privacy.items()
    }
    return {
        "method": units.describe(resamples),
        "units": {"people": units.people, "units": units.count, "resamples": resamples},
        "values": values,
        "no_interval": no_interval,
        "gold_floor": {key: _percentiles(found) for key, found in draws.floor.items()},
        "membership": membership_intervals,
    }


@dataclass
class _Draws:
    """Each metric's value under every resample of people (or why it has no interval)."""

    candidate: dict
    gold: dict | None
    units: Units
    weights: np.ndarray
    compat: str
    resamples: int
    rng: np.random.Generator
    ours: dict
    theirs: dict
    reference: dict | None = None  # the base model's logs: the `reference` attack's reference
    draws: dict[str, np.ndarray] = field(default_factory=dict)
    no_interval: dict[str, str] = field(default_factory=dict)
    floor: dict[str, np.ndarray] = field(default_factory=dict)
    privacy: dict[str, dict] = field(default_factory=dict)

    def add(self, key: str, metric, used) -> None:
        if metric.components:
            units, weights = self.units, self.weights
            terms = [
                weighted_mean(self.ours[task][score], units.rows[task], weights)
                for task in used
                for score in metric.components_for(self.compat)
            ]
            self.draws[key] = harmonic(terms)
        elif metric.statistic in EFFECT_SIZES:
            self.add_effect_size(key, metric, used)
        elif metric.statistic:
            self.no_interval[key] = "a p-value: no interval (its effect size, the KS statistic D, has one)"
        elif metric.membership:
            self.add_membership(key, metric, used)

    def add_effect_size(self, key: str, metric, used) -> None:
        if self.compat == "clear-official" and metric.statistic == "js":
            self.no_interval[key] = "the official index-aligned 1 − JS is not resampled"
            return
        a = np.concatenate([self.ours[task]["log_ratio"] for task in used])
        b = np.concatenate([self.theirs[task]["log_ratio"] for task in used])
        w = np.concatenate([self.weights[:, self.units.rows[task]] for task in used], axis=1)
        statistic = ks_statistic if metric.statistic == "ks_statistic" else calibrated_js
        self.draws[key] = statistic(a, b, w, w)
        # Gold against gold, two independent draws of people: what noise alone scores.
        self.floor[key] = _floor(statistic, b, self.units, used, self.resamples, self.rng)

    def add_membership(self, key: str, metric, used) -> None:
        if metric.attack not in ATTACKS:
            self.no_interval[key] = "a per-model maximum over attacks: biased upward, no interval"
            return
        if metric.scope not in self.privacy:
            self.privacy[metric.scope] = _membership(
                self.candidate, self.gold, used, self.units, self.weights, self.reference
            )
        value = self.privacy[metric.scope].get(metric.attack, {}).get(metric.membership)
        if value is None:
            self.no_interval[key] = "PrivLeak divides by 1 − gold's AUC, 0 in some resamples"
            return
        self.draws[key] = value


def _floor(statistic, gold_ratios, units: Units, used: list[str], resamples: int, rng) -> np.ndarray:
    first, second = units.weights(resamples, rng), units.weights(resamples, rng)
    w1 = np.concatenate([first[:, units.rows[task]] for task in used], axis=1)
    w2 = np.concatenate([second[:, units.rows[task]] for task in used], axis=1)
    return statistic(gold_ratios, gold_ratios, w1, w2)


def _membership(candidate, gold, used, units: Units, weights, reference=None) -> dict:
    """Per attack, resampled AUC, gold's AUC, PrivLeak and |AUC − AUC_gold| (None where undefined):
    the four, then each stronger attack whose scores the logs hold (one without them has no point
    value either, and `compute_metrics` says why)."""
    from clearbench.evaluate.metrics import attack_scores
    from clearbench.evaluate.tasks import TASKS

    holdout = next(task for task in used if TASKS[task].holdout)
    forget = next(task for task in used if task != holdout)
    wm, wo = weights[:, units.rows[forget]], weights[:, units.rows[holdout]]
    found = {}
    for attack in ATTACKS:
        scores = [attack_scores(log, attack) for log in (candidate[forget], candidate[holdout])]
        gold_scores = None
        if gold is not None:
            gold_scores = [attack_scores(log, attack) for log in (gold[forget], gold[holdout])]
        found[attack] = _attack_draws(scores, gold_scores, wm, wo)
    for attack in STRONGER_ATTACKS:
        scores = _stronger_scores(candidate, gold, reference, (forget, holdout), attack)
        if scores is not None:
            found[attack] = _attack_draws(*scores, wm, wo)
    return found


def _stronger_scores(candidate, gold, reference, tasks: tuple[str, str], attack: str):
    """(model's, gold's or None) per-row scores of a stronger attack on the (forget, holdout) tasks,
    read as `stronger.stronger_membership` reads them; None when the logs lack them."""
    from clearbench.evaluate.stronger import attack_values

    def scores(logs) -> list:
        return [attack_values(logs[task], attack, (reference or {}).get(task)) for task in tasks]

    try:
        return scores(candidate), None if gold is None else scores(gold)
    except UserError:  # no interval where there is no value; the point estimate names the reason
        return None


def _attack_draws(scores, gold_scores, wm: np.ndarray, wo: np.ndarray) -> dict:
    """AUC, gold's AUC, PrivLeak and |AUC − AUC_gold| of one attack under every resample; candidate
    and gold weighted by the same draws of people (their logs hold the same rows)."""
    model = auc(*(np.asarray(s, dtype=float) for s in scores), wm, wo)
    results: dict = {"auc": model, "gold_auc": None, "privleak": None, "auc_gap": None}
    if gold_scores is not None:
        gold_auc = auc(*(np.asarray(s, dtype=float) for s in gold_scores), wm, wo)
        results["gold_auc"] = gold_auc
        results["auc_gap"] = np.abs(model - gold_auc)
        if np.all(1 - gold_auc > 1e-12):  # PrivLeak divides by 1 − gold's AUC
            results["privleak"] = ((1 - model) - (1 - gold_auc)) / (1 - gold_auc)
    return results


def _percentiles(found: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(found, [tail, 100 - tail])
    return [float(low), float(high)]


def headline_attack_gold(intervals: dict, scope: str) -> list[float] | None:
    """Gold's AUC interval of the headline attack in `scope`, when the bootstrap gave one."""
    return ((intervals.get("membership") or {}).get(scope) or {}).get(HEADLINE_ATTACK, {}).get("gold_auc")


def excludes(interval, value: float) -> bool:
    return interval is not None and not (interval[0] <= value <= interval[1]) and not math.isnan(interval[0])
