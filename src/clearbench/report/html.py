"""`report.html`: one self-contained page (inline CSS, figures as data URIs, nothing fetched)."""

from __future__ import annotations

import base64
import json
from html import escape

from clearbench import __version__
from clearbench.report.entries import ReportEntry
from clearbench.report.leaderboard import (
    ModalityRow,
    Row,
    format_number,
    leaderboard_cells,
    leaderboard_columns,
    legend,
    modality_cells,
    modality_table_columns,
    set_apart,
)
from clearbench.report.plots import TASK_SCORES, task_names
from clearbench.report.provenance import provenance_html
from clearbench.report.tables import Table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta, .note { color: #666; font-size: .85rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f4f4f6; border-bottom: 2px solid #bbb; }
td:first-child, th:first-child, .status { text-align: left; }
th[colspan] { text-align: center; border-left: 1px solid #ddd; }
td.status { white-space: normal; max-width: 26rem; }
tr.reference td { font-weight: 600; }
tr.set-apart td, td.set-apart { color: #9a9a9a; }
tr.diverged td.status, tr.failed td.status { color: #b3261e; }
pre { background: #f6f6f8; padding: .8rem; overflow-x: auto; font-size: .8rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .85rem; }
details summary { cursor: pointer; font-weight: 600; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(
    title: str,
    rows: list[Row],
    modality: tuple[list[str], list[ModalityRow]] | None,
    figures: list[tuple[str, str, bytes]],
    config: dict | None,
    tables: list[Table] = (),
    provenance: dict | None = None,
) -> str:
    """The page. `figures` are (file name, caption, PNG bytes); `tables` come after the modality table."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">clearbench {escape(__version__)} · {len(rows)} models</p>',
        "<h2>Leaderboard</h2>",
        leaderboard_table(rows),
        f'<p class="note">{escape(legend(rows))}</p>',
    ]
    if modality:
        parts += ["<h2>Modality of the forget set</h2>", modality_table(*modality)]
    parts += [table.html() for table in tables]
    parts += problems_section(rows)
    parts += unavailable_section([row.entry for row in rows])
    parts += ["<h2>Figures</h2>"]
    for name, caption, png in figures:
        parts.append(
            f'<figure id="{escape(name)}"><img src="{data_uri(png)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
    if not figures:
        parts.append('<p class="note">No figures: the entries carry no metrics or training logs.</p>')
    parts += tasks_section([row.entry for row in rows])
    parts += provenance_html(provenance)
    if config is not None:
        text = json.dumps(config, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        parts += [
            "<h2>Run configuration</h2>",
            f'<details id="config"><summary>show</summary><pre>{escape(text, quote=False)}</pre></details>',
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def leaderboard_table(rows: list[Row]) -> str:
    columns = leaderboard_columns(rows)
    head = "".join(f"<th>{escape(t)}</th>" for t in ["method", *(c.header() for c in columns)])
    head += '<th class="status">status</th>'
    lines = [f'<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>']
    for row in rows:
        entry = row.entry
        classes = [entry.status]
        if row.reference:
            classes.append("reference")
        if row.fails_on_retain or entry.status != "completed":
            classes.append("set-apart")
        cells = "".join(f"<td>{escape(text)}</td>" for text in leaderboard_cells(row, columns))
        lines.append(
            f'<tr class="{" ".join(classes)}" data-entry="{escape(entry.name)}"><td>{escape(entry.name)}</td>'
            f'{cells}<td class="status">{escape(row.status)}</td></tr>'
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def modality_table(modalities: list[str], rows: list[ModalityRow]) -> str:
    columns = modality_table_columns(rows)
    width = len(columns)
    groups = "<th></th>" + "".join(f'<th colspan="{width}">{escape(m)}</th>' for m in modalities)
    head = "<th>method</th>" + "".join(
        f"<th>{escape(c.header(short=True))}</th>" for _ in modalities for c in columns
    )
    lines = [f'<table id="modality"><thead><tr>{groups}</tr><tr>{head}</tr></thead><tbody>']
    for row in rows:
        cells = f"<td>{escape(row.label)}</td>"
        for m in modalities:
            css = ' class="set-apart"' if set_apart(row.cells[m]) else ""
            cells += "".join(
                f"<td{css}>{escape(text)}</td>" for text in modality_cells(row.cells[m], columns)
            )
        lines.append(f'<tr data-entry="{escape(row.label)}">{cells}</tr>')
    lines.append("</tbody></table>")
    lines.append('<p class="note">Grey cells: the run fails on retain or did not complete; — : not run.</p>')
    return "\n".join(lines)


def problems_section(rows: list[Row]) -> list[str]:
    broken = [row for row in rows if row.entry.status != "completed"]
    failing = [row for row in rows if row.entry.status == "completed" and row.fails_on_retain]
    if not broken and not failing:
        return []
    parts = ['<h2>Failures</h2><ul id="failures">']
    for row in broken:
        reason = row.entry.error or "no reason recorded"
        parts.append(
            f"<li><b>{escape(row.entry.name)}</b> {escape(row.entry.status)}:<pre>{escape(reason)}</pre></li>"
        )
    for row in failing:
        parts.append(f"<li><b>{escape(row.entry.name)}</b> {escape(row.status)}</li>")
    parts.append("</ul>")
    return parts


def unavailable_section(entries: list[ReportEntry]) -> list[str]:
    """Why some numbers read n/a: the reasons the metrics recorded (e.g. no gold model logs)."""
    items = []
    for entry in entries:
        reasons = (entry.metrics or {}).get("unavailable")
        if isinstance(reasons, dict):
            items += [
                f"<li><b>{escape(entry.name)}</b> {escape(str(key))}: {escape(str(why))}</li>"
                for key, why in reasons.items()
            ]
    if not items:
        return []
    return [
        '<details id="unavailable"><summary>Why some numbers are n/a</summary><ul>',
        *items,
        "</ul></details>",
    ]


def tasks_section(entries: list[ReportEntry]) -> list[str]:
    entries = [e for e in entries if e.task_names()]
    tasks = task_names(entries)
    if not tasks:
        return []
    head = (
        "<th>model</th><th>task</th>"
        + "".join(f"<th>{escape(t)}</th>" for _, t in TASK_SCORES)
        + "<th>rows</th>"
    )
    lines = [
        "<h2>Per-task scores</h2>",
        f'<details id="tasks"><summary>show</summary><table><thead><tr>{head}</tr></thead><tbody>',
    ]
    for entry in entries:
        for task in tasks:
            if task not in entry.task_names():
                continue
            scores = "".join(
                f"<td>{format_number(entry.task_metric(task, key))}</td>" for key, _ in TASK_SCORES
            )
            count = entry.task_metric(task, "rows")
            lines.append(
                f"<tr><td>{escape(entry.name)}</td><td>{escape(task)}</td>{scores}"
                f"<td>{'n/a' if count is None else int(count)}</td></tr>"
            )
    lines.append("</tbody></table></details>")
    return lines
