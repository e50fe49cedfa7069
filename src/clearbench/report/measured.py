"""Attacks that measure rather than recover (issue 26): the probes of hidden layers and leak@k.

Their records carry a `probe` or a `leak` result instead of a recovered forget score, so they are
kept out of the robustness table and matrix (a probe asks no task; sampling leaves every likelihood,
hence the residual share, as it was) and shown in tables of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clearbench.report.tables import Table, format_number

MEASURED = ("probe", "leak")


def split_measured(records: Sequence[Mapping]) -> tuple[list[Mapping], list[Mapping]]:
    """(records scored by recovered knowledge, records that carry a measure)."""
    carries = [any(key in record for key in MEASURED) for record in records]
    return [r for r, c in zip(records, carries) if not c], [r for r, c in zip(records, carries) if c]


def _value(value, interval) -> str:
    text = format_number(value)
    if value is not None and interval:
        text += f" [{format_number(interval[0], digits=2)}, {format_number(interval[1], digits=2)}]"
    return text


def _accuracy(result: Mapping, task: str, layer: str) -> str:
    layers = ((result.get("tasks") or {}).get(task) or {}).get("layers") or {}
    return format_number((layers.get(layer) or {}).get("accuracy"))


def probe_table(records: Sequence[Mapping]) -> Table | None:
    """Per model, task and layer: the probe's accuracy on the forget people for the model, target and
    gold, chance, and the model's residual share of the target–gold gap."""
    rows = []
    for record in records:
        probe = record.get("probe") or {}
        mine, target, gold = (probe.get(role) or {} for role in ("model", "target", "gold"))
        for task, found in (mine.get("tasks") or {}).items():
            for layer, values in (found.get("layers") or {}).items():
                share = ((probe.get("residual_share") or {}).get(task) or {}).get(layer) or {}

                rows.append(
                    [
                        str(record.get("model")),
                        task,
                        str(layer),
                        _value(values.get("accuracy"), values.get("interval")),
                        _accuracy(target, task, layer),
                        _accuracy(gold, task, layer),
                        format_number(values.get("chance")),
                        _value(share.get("share"), share.get("interval"))
                        if share.get("share") is not None
                        else str(share.get("reason") or "n/a"),
                    ]
                )
    if not rows:
        return None
    return Table(
        "probes",
        "Probes of hidden layers: what the forget people's answers still show inside",
        ["model", "task", "layer", "accuracy [95 %]", "target", "gold", "chance", "residual share [95 %]"],
        rows,
        "A linear probe fitted on the retain people's hidden states scores the forget people's true "
        "answer against wrong ones. Residual share: (model − gold) / (target − gold); 0 as gold, 1 as "
        "the target. Intervals: bootstrap over the forget people. See docs/attacks.md.",
    )


def leak_table(records: Sequence[Mapping]) -> Table | None:
    """Per model: leak@k with its interval, beside the target and gold sampled the same way."""
    rows = []
    for record in records:
        leak = record.get("leak") or {}
        if not leak:
            continue
        cells = [str(record.get("model"))]
        for role in ("model", "target", "gold"):
            found = leak.get(role) or {}
            cells.append(_value(found.get("leak_at_k"), found.get("interval")))
        cells.append(str((leak.get("model") or {}).get("questions", "n/a")))
        rows.append(cells)
    if not rows:
        return None
    return Table(
        "leak",
        "Sampling leakage: leak@k",
        ["model", "leak@k [95 %]", "target", "gold", "questions"],
        rows,
        "The share of forget questions where any of k samples holds the forgotten answer's key; gold "
        "is what a model guesses without having learned the people. Intervals: bootstrap over people.",
    )
