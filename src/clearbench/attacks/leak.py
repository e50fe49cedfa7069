"""Sampling leakage: the forget questions asked again, each answered k times at temperature T
(leak@k, arXiv 2511.04934; the rule of what counts as a leak is in evaluate/sampling_leak.py).

The model is the source itself and the questions are the declared ones; only the decoding changes.
Its variant's logs are full evaluations (so the stage's usual records hold), with each row's
samples and whether one of them leaked; `leak_record` turns them into leak@k of the model, of
target and gold asked the same way (gold: what sampling finds in a model that never saw the people),
with bootstrap intervals over people. Opt-in (`attack.attacks: [..., leak]`): k samples per question
cost about k greedy generations each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from clearbench.attacks.base import Attack, Context, Variant
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.variants import AttackTask
from clearbench.evaluate.sampling_leak import LEAKED_KEY, leak_at_k

RESAMPLES = 1000


@dataclass(frozen=True)
class SampledTask(AttackTask):
    """A forget task whose rows are also answered `samples` times at `temperature`."""

    samples: int = 1
    temperature: float = 1.0


class Leak(Attack):
    name = "leak"

    def variants(self, options: AttackOptions) -> list[Variant]:
        k, temperature = options.leak_samples, options.leak_temperature
        settings = {"samples": k, "temperature": temperature}
        return [Variant(self.name, f"leak-k{k}-t{temperature:g}", settings)]

    def tasks(self, variant: Variant, context: Context) -> list[AttackTask]:
        k, temperature = variant.settings["samples"], variant.settings["temperature"]
        return [SampledTask.of(task, samples=k, temperature=temperature) for task in context.tasks]


def leak_summary(logs: Mapping[str, Mapping], resamples: int = RESAMPLES, seed: int = 0) -> dict | None:
    """leak@k pooled over the keyed questions of every task log holding the leak values, per task,
    and a 95 % interval from the bootstrap over people; None when no log holds them."""
    from clearbench.evaluate.bootstrap import Units, _percentiles, weighted_mean
    from clearbench.evaluate.logs import samples

    logs = {task: log for task, log in logs.items() if isinstance(log.get(LEAKED_KEY), Mapping)}
    if not logs:
        return None
    per_task = {task: leak_at_k(samples(dict(log), LEAKED_KEY)) for task, log in logs.items()}
    units = Units({task: dict(log) for task, log in logs.items()})
    values, rows = [], []
    for task, log in logs.items():
        for leaked, unit in zip(samples(dict(log), LEAKED_KEY), units.rows[task]):
            if leaked is not None:
                values.append(float(leaked))
                rows.append(unit)
    found = {"leak_at_k": None, "interval": None, "questions": len(values), "per_task": per_task}
    if not values:
        return found | {"reason": "no forget question has a key (an answer word the alternatives lack)"}
    found["leak_at_k"] = float(np.mean(values))
    if units.count < 2:
        return found | {"reason": "fewer than 2 people: no interval"}
    weights = units.weights(resamples, np.random.default_rng(seed))
    drawn = weighted_mean(np.asarray(values), np.asarray(rows), weights)
    found["interval"] = _percentiles(drawn[np.isfinite(drawn)])
    return found | {"method": units.describe(resamples)}


def leak_record(attacked, target_attacked, gold_attacked) -> dict:
    """leak@k of the model and of target and gold sampled the same way (None where not run)."""
    return {
        role: None if logs is None else leak_summary(logs)
        for role, logs in (("model", attacked), ("target", target_attacked), ("gold", gold_attacked))
    }
