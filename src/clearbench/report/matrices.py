"""Matrices instead of walls: robustness as model × attack and membership inference as model × attack,
each cell coloured by its value, its interval and verdict on hover. Plain HTML tables (no image), so
they stay sharp, searchable and small; the long tables stay in CSV and in collapsed sections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from clearbench.evaluate.metric_table import ATTACK_LABELS, HEADLINE_ATTACK
from clearbench.report.entries import ReportEntry, as_number
from clearbench.report.tables import format_number

VERDICT_MARKS = {"survived": "✓", "not survived": "✗", "undecided": "?"}


def heat(badness: float | None) -> str:
    """Background for a cell: 0 = good (green) through yellow to 1 = bad (red); grey when unknown."""
    if badness is None:
        return "#eeeeee"
    x = min(max(badness, 0.0), 1.0)
    # two linear pieces, light enough for black text: green (0) -> yellow (0.5) -> red (1)
    low, mid, high = (198, 232, 196), (250, 236, 170), (242, 176, 168)
    a, b, t = (low, mid, x * 2) if x <= 0.5 else (mid, high, x * 2 - 1)
    r, g, bl = (round(a[i] + (b[i] - a[i]) * t) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def cell(text: str, badness: float | None, title: str) -> str:
    return f'<td style="background:{heat(badness)}" title="{escape(title)}">{escape(text)}</td>'


def robustness_matrix(records: Sequence[Mapping]) -> list[str]:
    """Unlearned model × attack variant: the residual share after the attack (0 = as gold, 1 = as the
    target), ✓ / ✗ / ? its verdict; then one line per model. [] without records of unlearned models."""
    from clearbench.report.robustness import SURVIVES_BELOW, robustness_rows, survival_lines

    rows = [row for row in robustness_rows(records) if row["kind"] not in ("target", "gold")]
    if not rows:
        return []
    models = list(dict.fromkeys(row["model"] for row in rows))
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    found = {(row["model"], row["variant"]): row for row in rows}
    head = "<th>model</th>" + "".join(f"<th>{escape(v)}</th>" for v in variants) + "<th>survived</th>"
    lines = []
    for model in models:
        cells, kept = [], 0
        for variant in variants:
            row = found.get((model, variant))
            if row is None:
                cells.append(cell("—", None, "not run"))
                continue
            share, span = row["share_after"], row["share_interval"]
            kept += row["verdict"] == "survived"
            text = format_number(share, digits=2) + VERDICT_MARKS.get(row["verdict"], "")
            title = f"{model} under {variant}: residual share {format_number(share, digits=2)}"
            if span and share is not None:
                title += f" [{span[0]:.2f}, {span[1]:.2f}]"
            title += f"; {row['verdict']} ({row['why']})"
            cells.append(cell("n/m" if share is None else text, share, title))
        lines.append(
            f'<tr data-entry="{escape(model)}"><td>{escape(model)}</td>{"".join(cells)}'
            f"<td>{kept}/{len(variants)}</td></tr>"
        )
    summary = "".join(f"<li>{escape(line)}</li>" for line in survival_lines(records))
    note = (
        "Residual share after each attack: (model − gold) / (target − gold) of the forget Prob, target and "
        "gold attacked the same way; 0 = as gold (green), 1 = as the target (red). ✓ survived: its 95 % "
        f"interval (bootstrap over people, on hover) stays ≤ {SURVIVES_BELOW:g}; ✗ lies above; ? holds it; "
        "n/m: the target–gold gap under that attack is not measurable. Every number: robustness.csv; "
        "before and after per model: plots/robustness.png."
    )
    return [
        '<h2 id="robustness-matrix">Robustness: what each attack brings back</h2>',
        f'<div class="wide"><table id="robustness-matrix-table" class="matrix"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>",
        f'<p class="note">{escape(note)}</p>',
        f'<details id="robustness-lines"><summary>one line per model</summary><ul>{summary}</ul></details>',
    ]


def _auc_cell(entry: ReportEntry, scope: str, attack: str, found: Mapping) -> str:
    """One attack's AUC as a heat-map cell, coloured by its distance from gold's AUC; the intervals
    over people on hover, and "†" where gold's AUC interval excludes 0.5 (as in the privacy table)."""
    from clearbench.report.privacy import attack_label, membership_interval

    value, gold = as_number(found.get("auc")), as_number(found.get("gold_auc"))
    # 0.5 away from gold's AUC is as far as an AUC can be from chance: the red end
    badness = None if value is None else abs(value - (0.5 if gold is None else gold)) * 2
    span, gold_span = (membership_interval(entry, scope, attack, name) for name in ("auc", "gold_auc"))
    title = f"{entry.name}, {attack_label(attack)} on {scope}: AUC {format_number(value)}{_span(span)}"
    title += f", gold's {format_number(gold)}{_span(gold_span)}" if gold is not None else ""
    text = format_number(value, digits=2)
    if gold_span and not gold_span[0] <= 0.5 <= gold_span[1]:
        text += " †"
        title += " (gold's interval excludes 0.5: unreliable)"
    return cell(text, badness, title)


def _span(span) -> str:
    return f" [{span[0]:.2f}, {span[1]:.2f}]" if span else ""


def privacy_matrix(entries: Sequence[ReportEntry]) -> list[str]:
    """One row per model: the headline attack's AUC with its interval and PrivLeak per half, then the
    AUC of every attack as a heat map (distance from gold's AUC). [] without membership results."""
    from clearbench.report.privacy import (
        SCOPES,
        all_attacks,
        attack_label,
        membership_interval,
        membership_of,
        ordered,
        scored_attacks,
    )

    models = ordered(list(entries))
    scopes = [scope for scope in SCOPES if any(membership_of(e, scope) for e in models)]
    if not scopes:
        return []
    headline = ATTACK_LABELS[HEADLINE_ATTACK]
    columns = {scope: scored_attacks(models, scope) for scope in scopes}
    head = "<th>model</th>"
    head += "".join(f"<th>AUC {s} ({escape(headline)}) [95 %]</th><th>PrivLeak {s}</th>" for s in scopes)
    head += "".join(f"<th>{escape(attack_label(a))} {s}</th>" for s in scopes for a in columns[s])
    lines = []
    for entry in models:
        first, grid = [], []
        for scope in scopes:
            attacks = all_attacks(entry, scope)
            main = attacks.get(HEADLINE_ATTACK) or {}
            auc, span = as_number(main.get("auc")), membership_interval(entry, scope, HEADLINE_ATTACK, "auc")
            text = format_number(auc)
            if span and auc is not None:
                text += f" [{format_number(span[0], digits=2)}, {format_number(span[1], digits=2)}]"
            first.append(
                f"<td>{escape(text)}</td><td>{escape(format_number(as_number(main.get('privleak'))))}</td>"
            )
            grid += [_auc_cell(entry, scope, attack, attacks.get(attack) or {}) for attack in columns[scope]]
        lines.append(
            f'<tr data-entry="{escape(entry.name)}"><td>{escape(entry.name)}</td>{"".join(first)}{"".join(grid)}</tr>'
        )
    note = (
        f"AUC of telling the forget people (positive) from holdout people; gold ≈ 0.5. First columns: the "
        f"leaderboard's attack ({headline}) with its 95 % interval (bootstrap over people) and MUSE's "
        "PrivLeak (0 ideal, negative = the forget people still stand out). Then every attack's AUC (the "
        "stronger ones after the four: GradNorm when logged, the base-calibrated reference, exact "
        "memorization and extraction strength), coloured by its distance from gold's AUC under the same "
        "attack (green = as gold), its interval and gold's on hover; † = gold's AUC interval excludes "
        "0.5 (that attack is unreliable). Every number, with intervals: privacy.csv."
    )
    return [
        '<h2 id="privacy-matrix">Membership inference: can the forget people still be told apart?</h2>',
        f'<div class="wide"><table id="privacy-matrix-table" class="matrix"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>",
        f'<p class="note">{escape(note)}</p>',
    ]
