"""The report's robustness section: for each model, how much forgetting survives each attack.

Built from the attack stage's records (`clearbench.attacks.stage.attack_all`, or
`attacks/records.json` of a run): a table of the forget score before and after each attack variant
with the recovered knowledge, the residual share (m_model − m_gold) / (m_target − m_gold) before and
after the attack (target and gold attacked the same way, a person-bootstrap interval;
`attacks.scores.residual_share`) and forget quality against gold under the same attack, the worst
adversarial query per model, one sentence per model saying which attacks its forgetting survived,
and a figure of the forget score before vs after each attack.

Survival is read from the interval of the share after the attack: survived when it stays at or
below SURVIVES_BELOW, not survived when it lies above, undecided when it holds it; "not measurable"
(with the reason) when the target–gold gap under the attack is within its own noise. A model that
knows less than attacked gold has a share below 0, so it is never "not survived".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from clearbench.errors import UserError
from clearbench.report.entries import as_number

# Forgetting survives an attack after which the model keeps at most this share of the target–gold
# gap, target and gold attacked the same way (relearning teaches a model that never knew them too).
SURVIVES_BELOW = 0.2
# A model that removed less than this share of the target–gold gap before any attack did not forget:
# that its forgetting "survives" would say nothing.
FORGOT_AT_LEAST = 0.5
# Forget quality shown: both forget sets pooled when both were asked, else the images', else the text's.
FORGET_QUALITY_KEYS = (
    ("forget_quality_both", "both"),
    ("forget_quality", "images"),
    ("forget_quality_text", "text"),
)
REFERENCE_KINDS = ("target", "gold")


def read_records(path: Path) -> list[dict]:
    """The records of `attacks/records.json` (a file, or the run folder holding attacks/)."""
    path = Path(path)
    if path.is_dir():
        path = path / "attacks" / "records.json"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no attack records (run the attacks first)") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read the attack records: {error}") from None
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise UserError(f"{path}: expected a list of attack records")
    return records


def forget_quality(metrics: Mapping | None) -> tuple[float | None, str | None]:
    """(KS forget quality, its scope) from a record's `before` / `after` metrics."""
    for key, scope in FORGET_QUALITY_KEYS:
        value = as_number((metrics or {}).get(key))
        if value is not None:
            return value, scope
    return None, None


def robustness_rows(records: Sequence[Mapping], threshold: float = SURVIVES_BELOW) -> list[dict]:
    """One row per model and attack variant, in record order: the numbers the table shows."""
    from clearbench.attacks.scores import survival_verdict

    rows = []
    for record in records:
        pooled = (record.get("recovery") or {}).get("pooled") or {}
        # Before and after on the same scope: the one the attack's tasks allow (images only for
        # image perturbations).
        fq_after, scope = forget_quality(record.get("after"))
        keys = {name: key for key, name in FORGET_QUALITY_KEYS}
        fq_before = as_number((record.get("before") or {}).get(keys[scope])) if scope else None
        residual = record.get("residual") or {}
        share_before, share_after = residual.get("before") or {}, residual.get("after") or {}
        completed = record.get("status", "failed") == "completed"
        verdict, why = survival_verdict(share_after, threshold) if completed else ("unknown", "attack failed")
        rows.append(
            {
                "model": record["model"],
                "kind": record.get("kind"),
                "variant": record["variant"],
                "attack": record.get("attack"),
                "status": record.get("status", "failed"),
                "error": record.get("error"),
                "before": as_number(pooled.get("unlearned")),
                "after": as_number(pooled.get("attacked")),
                "recovered": as_number(pooled.get("recovered")),
                "share_before": as_number(share_before.get("share")),
                "share_after": as_number(share_after.get("share")),
                "share_interval": share_after.get("interval"),
                "verdict": verdict,
                "why": why,
                "fq_before": fq_before,
                "fq_after": fq_after,
                "fq_scope": scope,
            }
        )
    return rows


def worst_queries(records: Sequence[Mapping]) -> dict[str, tuple[str, float]]:
    """Model -> (the adversarial-query variant that recovered most, its recovered knowledge)."""
    worst: dict[str, tuple[str, float]] = {}
    for row in robustness_rows(records):
        if row["attack"] != "queries" or row["recovered"] is None:
            continue
        if row["model"] not in worst or row["recovered"] > worst[row["model"]][1]:
            worst[row["model"]] = (row["variant"], row["recovered"])
    return worst


def survival(
    records: Sequence[Mapping], threshold: float = SURVIVES_BELOW
) -> dict[str, dict[str, bool | None]]:
    """Unlearned model -> variant -> whether its forgetting survived (the residual share's interval
    after the attack ≤ threshold); None when undecided, not measurable or the attack failed."""
    found: dict[str, dict[str, bool | None]] = {}
    for row in robustness_rows(records, threshold):
        if row["kind"] in REFERENCE_KINDS:
            continue
        outcome = {"survived": True, "not survived": False}.get(row["verdict"])
        found.setdefault(row["model"], {})[row["variant"]] = outcome
    return found


def verdicts(records: Sequence[Mapping], threshold: float = SURVIVES_BELOW) -> dict[str, dict[str, tuple]]:
    """Unlearned model -> variant -> (verdict, why)."""
    found: dict[str, dict[str, tuple]] = {}
    for row in robustness_rows(records, threshold):
        if row["kind"] not in REFERENCE_KINDS:
            found.setdefault(row["model"], {})[row["variant"]] = (row["verdict"], row["why"])
    return found


def removed_before(records: Sequence[Mapping], model: str) -> float | None:
    """The share of the target–gold gap `model` removed before any attack, (m_target − m_model) /
    (m_target − m_gold) on the rows of its first record that has all three: 1 − its residual share."""
    for record in records:
        before = ((record.get("residual") or {}).get("before")) or {}
        if record.get("model") == model and as_number(before.get("share")) is not None:
            return 1 - before["share"]
    for record in records:
        pooled = ((record.get("recovery") or {}).get("pooled")) or {}
        values = [as_number(pooled.get(key)) for key in ("target", "unlearned", "gold")]
        if record.get("model") == model and None not in values and values[0] != values[2]:
            return (values[0] - values[1]) / (values[0] - values[2])
    return None


def survival_lines(records: Sequence[Mapping], threshold: float = SURVIVES_BELOW) -> list[str]:
    """One sentence per unlearned model: which attacks its forgetting survived and which it did not;
    a model that did not forget (removed < FORGOT_AT_LEAST of the gap) is said so instead."""
    lines = []
    for model, outcomes in survival(records, threshold).items():
        removed = removed_before(records, model)
        if removed is not None and removed < FORGOT_AT_LEAST:
            lines.append(
                f"{model}: did not forget ({removed:.0%} of the target–gold gap removed before any attack)"
            )
            continue
        details = verdicts(records, threshold).get(model, {})
        kept = [variant for variant, ok in outcomes.items() if ok]
        lost = [variant for variant, ok in outcomes.items() if ok is False]
        parts = [f"survived {', '.join(kept)}" if kept else "survived no attack"]
        if lost:
            parts.append(f"not {', '.join(lost)}")
        for kind in ("undecided", "not measurable", "unknown"):
            named = [
                f"{v} ({why})" if kind == "not measurable" else v
                for v, (k, why) in details.items()
                if k == kind
            ]
            if named:
                parts.append(
                    f"{kind} for {', '.join(named)}"
                    if kind != "unknown"
                    else f"unknown for {', '.join(named)}"
                )
        lines.append(f"{model}: " + "; ".join(parts))
    return lines


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def _share(row: dict) -> str:
    """The share after the attack with its interval: `0.38 [0.30, 0.45]`."""
    found = row["share_interval"]
    text = _number(row["share_after"], 2)
    return f"{text} [{found[0]:.2f}, {found[1]:.2f}]" if found and row["share_after"] is not None else text


def robustness_markdown(records: Sequence[Mapping], threshold: float = SURVIVES_BELOW) -> str:
    """The robustness table (Markdown), the worst adversarial query and the survival sentences."""
    header = (
        "| model | attack | forget Prob before | after | recovered | share before | share after [95 %] | "
        "verdict | FQ (KS) before | after | status |\n"
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|"
    )
    lines = [header]
    for row in robustness_rows(records, threshold):
        status = row["status"] if not row["error"] else f"{row['status']}: {row['error']}"
        fq = f"{_number(row['fq_after'])}" + (f" ({row['fq_scope']})" if row["fq_scope"] else "")
        lines.append(
            f"| {row['model']} | {row['variant']} | {_number(row['before'])} | {_number(row['after'])} | "
            f"{_number(row['recovered'], 2)} | {_number(row['share_before'], 2)} | {_share(row)} | "
            f"{row['verdict']} | {_number(row['fq_before'])} | {fq} | {status.replace('|', '/')} |"
        )
    worst = worst_queries(records)
    if worst:
        lines += ["", "Worst adversarial query per model (most knowledge recovered):", ""]
        lines += [f"- {model}: {variant} ({value:.2f})" for model, (variant, value) in worst.items()]
    sentences = survival_lines(records, threshold)
    if sentences:
        lines += [
            "",
            f"Forgetting survives an attack after which the model keeps at most {threshold:.0%} of the "
            "target–gold gap, target and gold attacked the same way (the interval decides):",
            "",
        ]
        lines += [f"- {sentence}" for sentence in sentences]
    return "\n".join(lines) + "\n"


def robustness_figure(records: Sequence[Mapping]) -> Figure | None:
    """Per model (rows, gold included), the pooled forget score before (black) and after each attack
    variant (coloured), joined by a line: the further right the dot, the more knowledge came back.
    Target and gold before any attack are dashed / dotted reference lines. None when no attack
    completed."""
    rows = [row for row in robustness_rows(records) if row["after"] is not None and row["before"] is not None]
    if not rows:
        return None
    # Gold gets a row too: how far each attack moves a model that never knew the people.
    models = list(dict.fromkeys(row["model"] for row in rows if row["kind"] != "target"))
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    references = {}
    for record in records:
        pooled = (record.get("recovery") or {}).get("pooled") or {}
        for role in REFERENCE_KINDS:
            if as_number(pooled.get(role)) is not None:
                references.setdefault(role, as_number(pooled[role]))
    figure = Figure(figsize=(7.5, 0.45 * max(len(models), 2) + 1.6))
    axes = figure.add_subplot()
    cmap = figure.colormaps["tab10"] if hasattr(figure, "colormaps") else None
    palette = [cmap(i % 10) if cmap else None for i in range(len(variants))]
    step = 0.6 / max(len(variants), 1)
    for y, model in enumerate(models):
        for index, variant in enumerate(variants):
            row = next((r for r in rows if r["model"] == model and r["variant"] == variant), None)
            if row is None:
                continue
            offset = y - 0.3 + step * (index + 0.5)
            axes.plot([row["before"], row["after"]], [offset, offset], color=palette[index], linewidth=1)
            axes.scatter([row["before"]], [offset], color="black", s=12, zorder=3)
            axes.scatter(
                [row["after"]],
                [offset],
                color=palette[index],
                s=24,
                zorder=3,
                label=variant if y == 0 else None,
            )
    for role, style in (("target", "--"), ("gold", ":")):
        if role in references and not math.isnan(references[role]):
            axes.axvline(
                references[role], color="grey", linestyle=style, linewidth=1, label=f"{role} (clean)"
            )
    axes.set_yticks(range(len(models)), models)
    axes.invert_yaxis()
    axes.set_xlabel("forget Prob, mean over the forget tasks asked (black: before the attack)")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes.set_title("Forgetting before and after each attack", fontsize=10)
    return figure


def write_robustness(records: Sequence[Mapping], out_dir: Path) -> dict[str, Path]:
    """robustness.md and robustness.png (when any attack completed) in `out_dir`, written atomically."""
    from clearbench import atomic
    from clearbench.report.plots import png_bytes

    out_dir = Path(out_dir)
    written = {"table": out_dir / "robustness.md"}
    atomic.write_text(written["table"], "# Robustness to attacks\n\n" + robustness_markdown(records))
    figure = robustness_figure(records)
    if figure is not None:
        written["figure"] = out_dir / "robustness.png"
        atomic.write_bytes(written["figure"], png_bytes(figure))
    return written


def robustness_table(records: Sequence[Mapping], threshold: float = SURVIVES_BELOW):
    """The robustness table as a report table (CSV, Markdown, HTML), its note the survival sentences."""
    from clearbench.report.tables import Table

    header = ["model", "attack", "forget Prob before", "after", "recovered", "share before"]
    header += ["share after [95 %]", "verdict", "FQ (KS) before", "FQ after", "FQ scope", "status"]
    rows = []
    for row in robustness_rows(records, threshold):
        status = row["status"] if not row["error"] else f"{row['status']}: {row['error']}"
        rows.append(
            [
                row["model"],
                row["variant"],
                _number(row["before"]),
                _number(row["after"]),
                _number(row["recovered"], 2),
                _number(row["share_before"], 2),
                _share(row),
                row["verdict"],
                _number(row["fq_before"]),
                _number(row["fq_after"]),
                row["fq_scope"] or "",
                status,
            ]
        )
    worst = [
        f"{model}: {variant} ({value:.2f})" for model, (variant, value) in worst_queries(records).items()
    ]
    note = [
        "Recovered: (attacked − unlearned) / (target − gold) of the forget Prob, pooled over the forget "
        "tasks. Share: (model − gold) / (target − gold), before and after the attack, every term "
        "measured under the same attack (target and gold attacked too), 95 % interval from a "
        "bootstrap over people; 0 = as gold, 1 = as the target, < 0 = less than attacked gold.",
        *([f"Worst adversarial query: {'; '.join(worst)}."] if worst else []),
        f"Forgetting survives an attack when the share's interval after it stays ≤ {threshold:g}: "
        + " ".join(f"{line}." for line in survival_lines(records, threshold)),
    ]
    return Table("robustness", "Robustness to attacks", header, rows, " ".join(note))
