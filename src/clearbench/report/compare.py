"""Runs side by side (`clearbench compare`): the settings that differ, the leaderboards aligned by
method with each change marked when it goes beyond the intervals, and the forget-quality-vs-utility
plots overlaid. Read from the runs' saved metrics and config.yaml only; no model is loaded.

A change is "beyond the intervals" when the two runs' 95 % intervals of that number do not overlap;
overlapping intervals say the runs cannot be told apart on it; a number without an interval in either
run is compared by value only, and said so.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from html import escape
from pathlib import Path

from matplotlib.figure import Figure

from clearbench import atomic
from clearbench.errors import UserError
from clearbench.evaluate.metric_table import METRICS
from clearbench.report.headline import metric_key, scope_of
from clearbench.report.leaderboard import Row, leaderboard_rows
from clearbench.report.seeds import interval
from clearbench.report.tables import format_number, markdown_cell, markdown_row

# The headline's numbers (glossary anchors), compared on the half the first run reads.
COMPARED = ("forget", "retain", "model_utility", "forget_quality_ks_statistic", "mia_auc")
RUN_MARKERS = ("o", "s", "^", "D", "v", "P")
RUN_COLOURS = ("#332288", "#CC6677", "#117733", "#DDAA33", "#88CCEE", "#AA4499")


@dataclass
class Run:
    label: str
    path: Path
    settings: dict  # the resolved configuration, flattened: "unlearn.learning_rate" -> value
    rows: list[Row]


def flatten(tree, prefix: str = "") -> dict:
    if not isinstance(tree, dict):
        return {prefix: tree}
    found = {}
    for key, value in tree.items():
        found.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


def load_run(path: Path, label: str | None = None) -> Run:
    """A finished run's leaderboard rows (seeds aggregated, swept points selected, as its report) and
    its configuration. config.yaml is read as saved, not re-validated: a run made by another version,
    with other settings, still compares."""
    import dataclasses

    import yaml

    from clearbench.report.requests import split_requests
    from clearbench.report.run_dir import read_entries
    from clearbench.report.seeds import aggregate
    from clearbench.report.selection import Selection, select

    path = Path(path)
    config_file = path / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"{path}: no config.yaml; is this a `clearbench run` directory?")
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UserError(f"{config_file}: cannot be read ({type(error).__name__})") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_file}: not a clearbench run's config (expected a mapping)")
    known = {field.name for field in dataclasses.fields(Selection)}
    chosen = config.get("selection") if isinstance(config.get("selection"), dict) else {}
    selection = Selection(**{key: value for key, value in chosen.items() if key in known})
    report = config.get("report") if isinstance(config.get("report"), dict) else {}
    threshold = report.get("retain_fail_threshold")
    points, _ = split_requests(aggregate(read_entries(path)))
    entries, _ = select(points, selection)
    rows = leaderboard_rows(entries, threshold if isinstance(threshold, int | float) else None)
    return Run(label or path.name, path, flatten(config), rows)


def differing_settings(runs: list[Run]) -> list[tuple[str, list]]:
    """(setting, each run's value) for every setting not the same in all runs, in config order."""
    keys = list(dict.fromkeys(key for run in runs for key in run.settings))
    missing = object()
    found = []
    for key in keys:
        values = [run.settings.get(key, missing) for run in runs]
        if any(value != values[0] for value in values[1:]):
            found.append((key, ["(not set)" if value is missing else value for value in values]))
    return found


def change(first: Row | None, other: Row | None, key: str) -> str:
    """How `other`'s number moved from `first`'s: "beyond intervals ↑/↓", "within intervals",
    "changed (no interval)", "same", or "" when either run lacks it."""
    a = first.values.get(key) if first else None
    b = other.values.get(key) if other else None
    if a is None or b is None:
        return ""
    if a == b:
        return "same"
    arrow = "↑" if b > a else "↓"
    span_a, span_b = interval(first.entry, key), interval(other.entry, key)
    if span_a is None or span_b is None:
        return f"changed {arrow} (no interval)"
    if span_b[0] > span_a[1] or span_a[0] > span_b[1]:
        return f"beyond intervals {arrow}"
    return "within intervals"


def cell_text(row: Row | None, key: str) -> str:
    if row is None:
        return "—"
    value = row.values.get(key)
    found = interval(row.entry, key) if value is not None else None
    text = format_number(value)
    return text + (
        f" [{format_number(found[0], digits=2)}, {format_number(found[1], digits=2)}]" if found else ""
    )


@dataclass
class Comparison:
    runs: list[Run]
    settings: list[tuple[str, list]]
    keys: list[str]
    methods: list[str]
    # method -> key -> per run (cell text, change from the first run)
    cells: dict[str, dict[str, list[tuple[str, str]]]]


def compare(runs: list[Run]) -> Comparison:
    if len(runs) < 2:
        raise UserError("compare needs at least two run directories")
    scope = scope_of(runs[0].rows)
    keys = [
        metric_key(anchor, scope)
        for anchor in COMPARED
        if any(row.values.get(metric_key(anchor, scope)) is not None for run in runs for row in run.rows)
    ]
    methods = list(dict.fromkeys(row.entry.name for run in runs for row in run.rows))
    by_run = [{row.entry.name: row for row in run.rows} for run in runs]
    cells = {}
    for method in methods:
        first = by_run[0].get(method)
        cells[method] = {
            key: [(cell_text(rows.get(method), key), change(first, rows.get(method), key)) for rows in by_run]
            for key in keys
        }
    return Comparison(runs, differing_settings(runs), keys, methods, cells)


# --- the overlaid plot ----------------------------------------------------------------------------


def overlay_figure(comparison: Comparison) -> Figure:
    """Model utility (x) against forget quality as KS D (y, 0 = as gold, drawn at the top), one marker
    and colour per run, the same method joined across runs by a grey line."""
    scope = scope_of(comparison.runs[0].rows)
    x_key, y_key = metric_key("model_utility", scope), metric_key("forget_quality_ks_statistic", scope)
    figure = Figure(figsize=(7.5, 4.8))
    axes = figure.subplots()
    positions: dict[str, list] = {}
    for index, run in enumerate(comparison.runs):
        colour, marker = RUN_COLOURS[index % len(RUN_COLOURS)], RUN_MARKERS[index % len(RUN_MARKERS)]
        points = [
            (row.entry.name, row.values.get(x_key), row.values.get(y_key))
            for row in run.rows
            if row.values.get(x_key) is not None and row.values.get(y_key) is not None
        ]
        for name, x, y in points:
            positions.setdefault(name, []).append((x, y))
            if index == 0:
                axes.annotate(name, (x, y), xytext=(5, 4), textcoords="offset points", fontsize=7)
        axes.scatter(
            [x for _, x, _ in points],
            [y for *_, y in points],
            marker=marker,
            facecolors=colour if index == 0 else "none",  # later runs hollow: both seen where they meet
            edgecolors=colour,
            linewidths=1.5,
            s=46,
            label=run.label,
            zorder=3,
        )
    for path in positions.values():
        if len(path) > 1:
            axes.plot([x for x, _ in path], [y for _, y in path], color="#999999", linewidth=0.8, zorder=2)
    axes.invert_yaxis()
    axes.set_xlabel(METRICS[x_key].header())
    axes.set_ylabel(METRICS[y_key].header() + " (0 = as gold, top)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, title="run", title_fontsize=8)
    axes.set_title("Forget quality vs model utility, runs overlaid (lines join a method)", fontsize=10)
    return figure


# --- the page ---------------------------------------------------------------------------------------


def settings_lines(comparison: Comparison) -> list[list[str]]:
    return [[key, *(str(v) for v in values)] for key, values in comparison.settings]


def markdown(comparison: Comparison) -> str:
    runs = comparison.runs
    lines = ["# Runs compared", ""]
    lines += [f"- {markdown_cell(run.label)}: {markdown_cell(str(run.path))}" for run in runs]
    lines += ["", "## Settings that differ", ""]
    if comparison.settings:
        lines.append(markdown_row(["setting", *(markdown_cell(r.label) for r in runs)]))
        lines.append(markdown_row(["---"] * (len(runs) + 1)))
        lines += [markdown_row([markdown_cell(c) for c in line]) for line in settings_lines(comparison)]
    else:
        lines.append("None: the runs share every setting.")
    lines += ["", "## Leaderboards aligned", ""]
    header = ["method", "metric", *(markdown_cell(r.label) for r in runs), "change"]
    lines += [markdown_row(header), markdown_row(["---"] * len(header))]
    for method in comparison.methods:
        for key in comparison.keys:
            found = comparison.cells[method][key]
            changes = "; ".join(f"{runs[i].label}: {c}" for i, (_, c) in enumerate(found) if i and c)
            cells = [method, METRICS[key].header(), *(text for text, _ in found), changes]
            lines.append(markdown_row([markdown_cell(c) for c in cells]))
    lines += ["", NOTE]
    return "\n".join(lines) + "\n"


NOTE = (
    "Change: from the first run. Beyond intervals: the two runs' 95 % intervals do not overlap; within "
    "intervals: they overlap, so the runs cannot be told apart on that number; no interval: a run has "
    "none, compared by value only."
)
CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem;
       color: #1d1d1f; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .88rem; } th, td { padding: .25rem .5rem;
  border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f4f4f6; } td:first-child, th:first-child, td.key { text-align: left; }
td.beyond { background: #fde2c8; font-weight: 600; } .note { color: #666; font-size: .85rem; }
div.wide { overflow-x: auto; } img { max-width: 100%; }
"""


def html(comparison: Comparison, png: bytes) -> str:
    runs = comparison.runs
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Runs compared</title><style>{CSS}</style></head><body><h1>Runs compared</h1><ul>",
        *(f"<li><b>{escape(r.label)}</b>: {escape(str(r.path))}</li>" for r in runs),
        "</ul><h2>Settings that differ</h2>",
    ]
    if comparison.settings:
        head = "".join(f"<th>{escape(r.label)}</th>" for r in runs)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in line) + "</tr>"
            for line in settings_lines(comparison)
        )
        parts.append(f'<table id="settings"><tr><th>setting</th>{head}</tr>{body}</table>')
    else:
        parts.append("<p>None: the runs share every setting.</p>")
    parts.append("<h2>Leaderboards aligned</h2>")
    head = "<th>method</th>" + "".join(
        f'<th colspan="{len(runs)}">{escape(METRICS[key].header())}</th>' for key in comparison.keys
    )
    sub = "<th></th>" + "".join(f"<th>{escape(r.label)}</th>" for _ in comparison.keys for r in runs)
    body = []
    for method in comparison.methods:
        cells = []
        for key in comparison.keys:
            for text, how in comparison.cells[method][key]:
                css = ' class="beyond"' if how.startswith("beyond") else ""
                cells.append(f'<td{css} title="{escape(how)}">{escape(text)}</td>')
        body.append(f'<tr data-entry="{escape(method)}"><td>{escape(method)}</td>{"".join(cells)}</tr>')
    parts.append(
        f'<div class="wide"><table id="aligned"><thead><tr>{head}</tr><tr>{sub}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
    parts.append(
        f'<p class="note">{escape(NOTE)} Shaded: beyond intervals (hover a cell for its change).</p>'
    )
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    parts.append(f'<h2>Forget quality vs utility</h2><img src="{uri}" alt="runs overlaid">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_comparison(run_dirs: list[Path], out_dir: Path) -> Path:
    """compare.html, compare.md and compare.png in `out_dir`; the path of compare.html."""
    from clearbench.report.plots import png_bytes

    labels = [Path(d).name for d in run_dirs]
    if len(set(labels)) < len(labels):  # two runs named alike: number them
        labels = [f"{i + 1}:{label}" for i, label in enumerate(labels)]
    comparison = compare([load_run(Path(d), label) for d, label in zip(run_dirs, labels)])
    png = png_bytes(overlay_figure(comparison))
    out_dir = Path(out_dir)
    atomic.write_bytes(out_dir / "compare.png", png)
    atomic.write_text(out_dir / "compare.md", markdown(comparison))
    atomic.write_text(out_dir / "compare.html", html(comparison, png))
    return out_dir / "compare.html"
