"""`report.html`: one self-contained page (inline CSS, figures as data URIs, nothing fetched)."""

from __future__ import annotations

import base64
import json
import math
from html import escape

from clearbench import __version__
from clearbench.report.entries import ReportEntry
from clearbench.report.glossary import glossary_html, glossary_title, term_of
from clearbench.report.headline import Headline
from clearbench.report.leaderboard import (
    ModalityRow,
    Row,
    format_number,
    gold_under_line,
    gold_under_line_note,
    leaderboard_cells,
    leaderboard_columns,
    legend,
    modality_cells,
    modality_table_columns,
    set_apart,
)
from clearbench.report.plots import TASK_SCORES, task_names
from clearbench.report.provenance import provenance_html
from clearbench.report.seeds import interval_methods
from clearbench.report.tables import Table

# Per-area tables long enough to hide behind a click (their matrices are shown instead; CSV has all).
COLLAPSED = ("robustness", "privacy", "significance", "gold_like", "noise_floor", "leakage")

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
table.matrix th { white-space: normal; font-size: .8rem; vertical-align: bottom; min-width: 3.2rem; }
table.matrix td { text-align: center; } table.matrix td:first-child { text-align: left; }
div.wide { overflow-x: auto; } table.glossary td { white-space: normal; text-align: left; }
table.glossary td:first-child { min-width: 9rem; } table.glossary td.status { max-width: 40rem; }
p.answer { font-size: 1rem; max-width: 60rem; margin: .3rem 0; } p.warning { color: #8a4b00; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-dir="asc"]::after { content: " ▲"; } table.sortable th[data-dir="desc"]::after { content: " ▼"; }
th a.g { color: #888; text-decoration: none; font-weight: 400; font-size: .8em; }
#headline td.status { white-space: nowrap; }
tbody.references td:first-child::after { content: " ref"; font-size: .7em; color: #555; background: #e8e8ee;
  border-radius: 3px; padding: 0 .25rem; margin-left: .3rem; font-weight: 400; }
tbody.references tr:last-child td { border-bottom: 2px solid #bbb; }
"""
# Sorting by a click on a header: a few lines, no library, so the page stays one offline file. Only the
# methods' body is sorted; the references stay on top. Cells sort by data-sort (numbers before text,
# empty last).
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, index) {
    th.addEventListener("click", function (event) {
      if (event.target.tagName === "A") return;
      var up = th.dataset.dir !== "asc", body = table.querySelector("tbody.methods");
      if (!body) return;
      table.querySelectorAll("thead th").forEach(function (other) { delete other.dataset.dir; });
      th.dataset.dir = up ? "asc" : "desc";
      var key = function (row) {
        var cell = row.cells[index], text = cell.dataset.sort;
        if (text === undefined) text = cell.textContent;
        return text === "" ? null : isNaN(text) ? text : Number(text);
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
        return up ? order : -order;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
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
    headline: Headline | None = None,
    matrices: list[str] = (),
) -> str:
    """The page: the answer first (sentences and the headline table), then the matrices, then every
    column and table, figures, glossary and how the numbers were made. `figures` are (file name,
    caption, PNG bytes); `matrices` are HTML sections (robustness, privacy)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(meta_line(rows, provenance))} · <a href="#glossary">glossary</a>'
        + (' · <a href="#run">how these numbers were made</a>' if provenance else "")
        + "</p>",
    ]
    if headline is not None:
        parts += ["<h2>Result</h2>", *headline_section(headline, headline_legend(rows))]
    parts += list(matrices)
    parts += [
        '<h2 id="all-columns">Leaderboard, every column</h2>',
        f'<details id="leaderboard-details"><summary>show {len(leaderboard_columns(rows))} columns '
        "(also leaderboard.csv)</summary>",
        f'<div class="wide">{leaderboard_table(rows)}</div>',
        f'<p class="note">{escape(legend(rows))}</p></details>',
    ]
    if modality:
        parts += [
            "<h2>Modality of the forget set</h2>",
            f'<div class="wide">{modality_table(*modality)}</div>',
        ]
    parts += [table.html(collapsed=table.name in COLLAPSED) for table in tables]
    parts += problems_section(rows)
    parts += unavailable_section([row.entry for row in rows])
    parts += figures_section(figures)
    parts += tasks_section([row.entry for row in rows])
    parts += glossary_html()
    parts += provenance_html(provenance)
    if config is not None:
        text = json.dumps(config, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        parts += [
            "<h2>Run configuration</h2>",
            f'<details id="config"><summary>show</summary><pre>{escape(text, quote=False)}</pre></details>',
        ]
    parts.append(f"<script>{SORT_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def figures_section(figures: list[tuple[str, str, bytes]]) -> list[str]:
    """Each figure embedded with its caption, or why there are none."""
    parts = ["<h2>Figures</h2>"]
    for name, caption, png in figures:
        parts.append(
            f'<figure id="{escape(name)}"><img src="{data_uri(png)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
    if not figures:
        parts.append('<p class="note">No figures: the entries carry no metrics or training logs.</p>')
    return parts


def meta_line(rows: list[Row], provenance: dict | None) -> str:
    """Version, model count, and the run's seeds and data revision when known."""
    parts = [f"clearbench {__version__}", f"{len(rows)} models"]
    info = provenance or {}
    seeds = info.get("seeds") or {}
    if isinstance(seeds, dict) and seeds:
        parts.append("seeds " + ", ".join(f"{k} {v}" for k, v in seeds.items()))
    if info.get("data_revision"):
        parts.append(f"data {str(info['data_revision'])[:19]}")
    return " · ".join(parts)


def headline_legend(rows: list[Row]) -> str:
    """What the headline's marks mean, shortly (the full legend is under every column)."""
    threshold = rows[0].threshold if rows else None
    notes = ["ref: a reference (gold, target, base), what the methods are measured against, never judged."]
    if threshold is not None:
        notes.append(f"Under retain line: a method with Retain < {threshold:g}.")
    methods = interval_methods(row.entry for row in rows)
    if methods:
        notes.append(f"In brackets: 95 % intervals ({'; '.join(methods)}).")
    notes.append(
        "≈ gold / ≠ gold: the KS D interval reaches / stays beyond what gold scores against another gold."
    )
    for scope, (low, high) in rows[0].unreliable if rows else ():
        notes.append(
            f"† MIA unreliable on {scope}: gold's AUC interval [{low:.3f}, {high:.3f}] excludes 0.5."
        )
    return " ".join(notes) + gold_under_line_note(rows)


def headline_section(headline: Headline, legend_text: str) -> list[str]:
    """The first screen: the sentences, then the sortable headline table (references on top)."""
    parts = [f'<p class="answer">{escape(sentence)}</p>' for sentence in headline.sentences]
    rows = [row for row, _ in headline.rows]
    if gold_under_line(rows) is not None:
        parts.append(f'<p class="answer warning">⚠ {escape(gold_under_line_note(rows).strip())}</p>')
    head = "".join(
        f'<th data-col="{escape(c.anchor)}"{" class=status" if c.anchor in ("method", "status") else ""} title="{escape(glossary_title(c.anchor, headline.scope))}">'
        f'{escape(c.header)} <a class="g" href="#g-{escape(c.anchor)}">?</a></th>'
        for c in headline.columns
    )
    bodies = {"references": [], "methods": []}
    for row, cells in headline.rows:
        classes = [row.entry.status] + (["set-apart"] if row.fails_on_retain else [])
        classes += ["set-apart"] if row.entry.status != "completed" else []
        tds = "".join(
            f"<td{sort_attribute(cell.sort)}{title_attribute(cell.title)}"
            f"{' class=status' if column.anchor == 'status' else ''}>{escape(cell.text)}</td>"
            for column, cell in zip(headline.columns, cells)
        )
        body = "references" if row.reference else "methods"
        bodies[body].append(
            f'<tr class="{" ".join(classes)}" data-entry="{escape(row.entry.name)}">{tds}</tr>'
        )
    parts.append(f'<table id="headline" class="sortable"><thead><tr>{head}</tr></thead>')
    parts += [
        f'<tbody class="{name}">' + "".join(lines) + "</tbody>" for name, lines in bodies.items() if lines
    ]
    parts.append("</table>")
    parts.append(f'<p class="note">{escape(legend_text)} Click a header to sort; ? opens its definition.</p>')
    return parts


def sort_attribute(value) -> str:
    if value is None:
        return ' data-sort=""'
    if isinstance(value, float) and not math.isfinite(value):
        return ' data-sort=""'
    return f' data-sort="{escape(str(value))}"'


def title_attribute(text: str) -> str:
    return f' title="{escape(text)}"' if text else ""


def leaderboard_table(rows: list[Row]) -> str:
    columns = leaderboard_columns(rows)
    head = "<th>method</th>" + "".join(
        f'<th>{escape(c.header())} <a class="g" href="#g-{escape(term_of(c.key)[0])}">?</a></th>'
        if term_of(c.key)[0]
        else f"<th>{escape(c.header())}</th>"
        for c in columns
    )
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
        f'<details id="tasks"><summary>show</summary><div class="wide"><table><thead><tr>{head}</tr></thead><tbody>',
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
    lines.append("</tbody></table></div></details>")
    return lines
