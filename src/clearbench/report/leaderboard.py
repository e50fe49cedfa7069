"""The leaderboard and the modality table, as rows and as CSV / Markdown / LaTeX text."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace

from clearbench.errors import UserError
from clearbench.evaluate.metric_table import METRICS, Metric
from clearbench.report.entries import MODALITIES, ReportEntry
from clearbench.report.seeds import interval, interval_methods
from clearbench.report.tables import csv_number, format_number, markdown_cell, markdown_row, one_line

# Reference rows first (gold, then the model being unlearned), as in the paper's tables.
KIND_ORDER = {"gold": 0, "target": 1, "base": 2, "unlearned": 3}
REFERENCE_ROLES = {
    "gold": "gold: never trained on the forget people",
    "target": "target: the model being unlearned",
    "base": "base: before fine-tuning",
}

# Columns are metrics of the metric table, chosen by key; headers, ↑ / ↓ and number format are the
# metric's. First the paper's columns, on CLEAR's image tasks; then the text half's and both halves'.
# A scope's columns are shown when some row has a value in that scope (the image columns when no row
# has any), so a CLEAR-only or TOFU-only report has no column of n/a.
LEADERBOARD_KEYS = (
    "real",
    "retain",
    "forget",
    "forget_quality",
    "forget_quality_ks_statistic",
    "forget_quality_js",
    "model_utility",
    "model_utility_text",
    "forget_quality_text",
    "forget_quality_text_ks_statistic",
    "forget_quality_text_js",
    "model_utility_both",
    "forget_quality_both",
    "mia_auc",
    "privleak",
    "mia_auc_gap",
    "mia_auc_text",
    "privleak_text",
    "mia_auc_gap_text",
)
# The paper's Table 3 (Real / Retain / Forget / 1 − JS on the image tasks, per modality of the forget
# set), plus the text half's 1 − JS when evaluated: what forgetting one modality does to the other.
MODALITY_KEYS = ("real", "retain", "forget", "forget_quality_js", "forget_quality_text_js")


def leaderboard_columns(rows: list[Row] | None = None) -> tuple[Metric, ...]:
    """The leaderboard's columns for these rows (every declared one without rows)."""
    return shown_columns(LEADERBOARD_KEYS, rows)


def modality_columns(rows: list[Row] | None = None) -> tuple[Metric, ...]:
    return shown_columns(MODALITY_KEYS, rows)


def shown_columns(keys: tuple[str, ...], rows: list[Row] | None) -> tuple[Metric, ...]:
    """The metrics of `keys` whose scope some row has a value in (images when none has any); a
    membership metric only when some row has it."""
    if rows is None:
        return tuple(METRICS[key] for key in keys)
    scopes = {METRICS[key].scope for key in keys for row in rows if row.values[key] is not None}
    return tuple(
        METRICS[key]
        for key in keys
        if METRICS[key].scope in (scopes or {"images"})
        # membership columns only where an attack was scored (logs with holdout rows)
        and (not METRICS[key].membership or any(row.values[key] is not None for row in rows))
    )


def compat_of(entries: list[ReportEntry]) -> str:
    """The definitions (compat mode) the entries' metrics were computed under; one table, one set.

    Metrics without a `compat` key (or with one that is not a string) count as the default ones.
    """
    first: dict[str, str] = {}  # compat -> the first entry computed under it
    for entry in entries:
        if entry.metrics is not None:
            compat = entry.metrics.get("compat")
            first.setdefault(compat if isinstance(compat, str) else "clearbench", entry.name)
    if len(first) > 1:
        described = ", ".join(f"{compat!r} (e.g. {name!r})" for compat, name in first.items())
        raise UserError(
            f"report entries were computed under different metric definitions: {described}; "
            "compute every entry's metrics with the same compat mode"
        )
    return next(iter(first), "clearbench")


def entry_values(entry: ReportEntry) -> dict[str, float | None]:
    """Every metric of the table for one entry, by key; None where the metrics lack it."""
    return {key: entry.metric(key) for key in METRICS}


@dataclass(frozen=True)
class Row:
    """A leaderboard row: the entry, its numbers, and whether it fails on retain."""

    entry: ReportEntry
    values: dict[str, float | None]
    fails_on_retain: bool
    threshold: float | None
    # Scope -> gold's MIA AUC interval where it excludes 0.5: that scope's membership cells get "†".
    unreliable: tuple = ()

    @property
    def reference(self) -> bool:
        """Gold, target and base: what the methods are measured against, never a failure."""
        return self.entry.kind != "unlearned"

    @property
    def status(self) -> str:
        entry = self.entry
        if self.reference and entry.status == "completed":
            return f"reference ({entry.kind})"
        if entry.status != "completed":
            return f"{entry.status}: {one_line(entry.error) or 'no reason recorded'}"
        if self.fails_on_retain:
            retain = format_number(self.values["retain"])
            return f"fails on retain (Retain {retain} < {self.threshold:g})"
        return "completed"


def leaderboard_rows(entries: list[ReportEntry], retain_fail_threshold: float | None = 0.4) -> list[Row]:
    """Rows in report order: gold, target, base, then the unlearning runs as given."""
    check_unique_names(entries)
    compat_of(entries)  # one set of definitions, checked before anything is written
    rows = []
    for entry in sorted(entries, key=lambda e: KIND_ORDER[e.kind]):
        values = entry_values(entry)
        # The retain line judges methods; a reference under it says something about the line.
        fails = entry.kind == "unlearned" and fails_retain(values["retain"], retain_fail_threshold)
        rows.append(Row(entry, values, fails, retain_fail_threshold))
    unreliable = tuple(unreliable_membership(entries).items())
    return [replace(row, unreliable=unreliable) for row in rows]


def unreliable_membership(entries: list[ReportEntry]) -> dict[str, tuple[float, float]]:
    """Scope -> gold's MIA AUC interval (the headline attack, bootstrap over people) where it
    excludes 0.5: gold never saw either set, so its forget and holdout people differ beyond training
    and every membership column of that scope is unreliable."""
    from clearbench.evaluate.bootstrap import headline_attack_gold

    found: dict[str, tuple[float, float]] = {}
    for entry in entries:
        for scope, key in (("images", "mia_auc"), ("text", "mia_auc_text")):
            span = interval(entry, key) if entry.kind == "gold" else None
            span = span or headline_attack_gold((entry.metrics or {}).get("intervals") or {}, scope)
            if span and not span[0] <= 0.5 <= span[1]:
                found.setdefault(scope, (float(span[0]), float(span[1])))
    return found


def fails_retain(retain: float | None, threshold: float | None) -> bool:
    # The paper greys rows whose Retain metric is below 0.4 ("method fails on retain").
    return threshold is not None and retain is not None and retain < threshold


def check_unique_names(entries: list[ReportEntry]) -> None:
    seen = set()
    for entry in entries:
        if entry.name in seen:
            raise UserError(f"report entry name {entry.name!r} appears twice; names label the rows")
        seen.add(entry.name)


# --- numbers and cells ------------------------------------------------------------------------


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "−": "-",
    "…": r"\dots{}",
    "—": "--",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def latex_number(text: str) -> str:
    """A cell's text with each number in scientific notation typeset (`1.2e-06` → $1.2\\times10^{-6}$)."""
    return "".join(
        f"${part.partition('e')[0]}\\times10^{{{int(part.partition('e')[2])}}}$"
        if SCIENTIFIC.fullmatch(part)
        else latex_escape(part)
        for part in SCIENTIFIC_PARTS.split(text)
    )


SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?e[+-]?\d+")
SCIENTIFIC_PARTS = re.compile(r"(-?\d+(?:\.\d+)?e[+-]?\d+)")


def grey(cells: list[str]) -> list[str]:
    return [rf"\textcolor{{gray}}{{{cell}}}" for cell in cells]


# --- the leaderboard --------------------------------------------------------------------------


def leaderboard_csv(rows: list[Row]) -> str:
    """Full-precision numbers (empty when missing), for further analysis."""
    columns = leaderboard_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    bounded = [c for c in columns if any(interval(row.entry, c.key) for row in rows)]
    writer.writerow(
        [
            "method",
            "kind",
            "modality",
            *(c.key for c in columns),
            *(f"{c.key}_{end}" for c in bounded for end in ("low", "high")),
            "status",
            "fails_on_retain",
            "error",
        ]
    )
    for row in rows:
        entry = row.entry
        writer.writerow(
            [
                entry.name,
                entry.kind,
                entry.modality or "",
                *(csv_number(row.values[c.key]) for c in columns),
                *(csv_number(bound) for c in bounded for bound in interval(row.entry, c.key) or (None, None)),
                entry.status,
                str(row.fails_on_retain).lower(),
                entry.error or "",
            ]
        )
    return buffer.getvalue()


def leaderboard_cells(row: Row, columns: tuple[Metric, ...]) -> list[str]:
    """Each value, with its 95 % interval after it when the row has one: `0.512 [0.480, 0.551]`."""
    cells = []
    for c in columns:
        text = format_number(row.values[c.key], p_value=c.p_value)
        found = interval(row.entry, c.key) if row.values[c.key] is not None else None
        if found:
            text += f" [{format_number(found[0], p_value=c.p_value)}, {format_number(found[1], p_value=c.p_value)}]"
        if c.membership and c.scope in dict(row.unreliable) and row.values[c.key] is not None:
            text += " †"
        cells.append(text)
    return cells


def leaderboard_markdown(rows: list[Row]) -> str:
    columns = leaderboard_columns(rows)
    header = ["method", *(c.header() for c in columns), "status"]
    lines = [markdown_row(header), markdown_row(["---"] + ["---:"] * len(columns) + ["---"])]
    for row in rows:
        cells = [markdown_cell(row.entry.name), *leaderboard_cells(row, columns), markdown_cell(row.status)]
        if row.fails_on_retain or row.entry.status != "completed":
            cells = [f"*{cell}*" for cell in cells]
        lines.append(markdown_row(cells))
    lines += ["", legend(rows)]
    return "\n".join(lines) + "\n"


def leaderboard_latex(rows: list[Row]) -> str:
    columns = leaderboard_columns(rows)
    header = ["Method", *(c.latex_header() for c in columns), "Status"]
    body = []
    for row in rows:
        cells = [
            latex_escape(row.entry.name),
            *map(latex_number, leaderboard_cells(row, columns)),
            latex_escape(row.status),
        ]
        body.append(grey(cells) if row.fails_on_retain or row.entry.status != "completed" else cells)
    return latex_table("l" + "r" * len(columns) + "l", [header], body, legend(rows))


def legend(rows: list[Row]) -> str:
    notes = (scope_note(rows), set_apart_note(rows), interval_note(rows), membership_note(rows))
    return " ".join(note for note in notes if note)


def membership_note(rows: list[Row]) -> str:
    """Which attack the membership columns use, and where gold shows them unreliable."""
    if not any(row.values[key] is not None for row in rows for key in ("mia_auc", "mia_auc_text")):
        return ""
    from clearbench.evaluate.metric_table import ATTACK_LABELS, HEADLINE_ATTACK

    note = (
        f"MIA AUC, PrivLeak and AUC distance to gold (|AUC − AUC_gold|) use one attack for every row "
        f"({ATTACK_LABELS[HEADLINE_ATTACK]})."
    )
    for scope, (low, high) in rows[0].unreliable if rows else ():
        note += (
            f" † Unreliable on {scope}: gold's AUC interval [{low:.3f}, {high:.3f}] excludes 0.5, so its "
            "forget and holdout people differ beyond training and the columns measure that difference too."
        )
    return note


def interval_note(rows: list[Row]) -> str:
    methods = interval_methods(row.entry for row in rows)
    if not methods:
        return ""
    note = (
        f"In brackets: 95 % intervals ({'; '.join(methods)}); KS p-values have none (their effect size, "
        "KS D, has one)."
    )
    if any(method.startswith("t-interval over") for method in methods):
        from clearbench.report.seeds import CORRECTION

        note += (
            f" Which methods differ: significance table (paired t-tests over training seeds, {CORRECTION}-"
            "corrected); which cannot be told from gold: gold_like table."
        )
    return note + no_interval_note(rows)


def no_interval_note(rows: list[Row]) -> str:
    """Why a shown column has no interval (beyond p-values), from the bootstrap's `no_interval`."""
    shown, reasons = {c.key: c for c in leaderboard_columns(rows)}, {}
    for row in rows:
        found = ((row.entry.metrics or {}).get("intervals") or {}).get("no_interval") or {}
        for key, why in found.items():
            if key in shown and not shown[key].p_value and shown[key].statistic != "ks_log":
                reasons.setdefault(f"{shown[key].label}: {why}", None)
    return f" No interval for {'; '.join(reasons)}." if reasons else ""


def scope_note(rows: list[Row]) -> str:
    """What the columns are computed on, and under which definitions."""
    official = compat_of([row.entry for row in rows]) == "clear-official"
    forget = (
        "the paper's Forget (its truth-ratio term rises as the model forgets), 1 − JS index-aligned as "
        "the official code"
        if official
        else "Forget with every term falling as the model forgets, 1 − JS calibrated (≈ 1 for gold-like "
        "truth ratios at any row count)"
    )
    return (
        "Real, Retain, Forget, FQ, 1 − JS and model utility are on CLEAR's image tasks, as the paper "
        f"defines them ({forget}); 'text' columns are on TOFU's QA tasks; 'both' columns pool the two "
        f"halves.{gold_like_note(rows)} See docs/metrics.md."
    )


def gold_like_note(rows: list[Row]) -> str:
    """The range of the calibrated 1 − JS columns that cannot be told from gold at these row counts."""
    ranges = {}
    for row in rows:
        calibration = (row.entry.metrics or {}).get("calibration")
        for key in ("forget_quality_js", "forget_quality_text_js"):
            found = calibration.get(key) if isinstance(calibration, dict) else None
            if isinstance(found, dict) and key not in ranges:
                ranges[key] = found
    parts = [
        f"{METRICS[key].label} at {found['rows'][0]} rows: {format_number(found['gold_like'][0])}–1"
        for key, found in ranges.items()
    ]
    return f" A gold-like model scores, 19 times in 20: {'; '.join(parts)}." if parts else ""


def set_apart_note(rows: list[Row]) -> str:
    threshold = rows[0].threshold if rows else None
    if threshold is None:
        return "Rows of runs that diverged or failed are set apart (italic / grey)."
    return (
        f"Rows set apart (italic / grey) are methods that fail on retain (Retain < {threshold:g}; the "
        "paper greys rows below 0.4) or did not complete; the status column says which and why. Gold, "
        f"target and base are references, never judged by the line.{gold_under_line_note(rows)}"
    )


def gold_under_line(rows: list[Row]) -> float | None:
    """Gold's Retain when it falls under the retain line (then the line, or the world, is wrong)."""
    for row in rows:
        retain = row.values.get("retain")
        if row.entry.kind == "gold" and fails_retain(retain, row.threshold):
            return retain
    return None


def gold_under_line_note(rows: list[Row]) -> str:
    retain = gold_under_line(rows)
    if retain is None:
        return ""
    return (
        f" Gold itself is under the line (Retain {format_number(retain)} < {rows[0].threshold:g}): a "
        "model that never saw the forget people cannot fail at retaining, so the line (or the world) "
        "is wrong for this run and 'fails on retain' says little here."
    )


# --- the modality table -----------------------------------------------------------------------


@dataclass(frozen=True)
class ModalityRow:
    label: str
    cells: dict[str, Row | None]  # modality -> the run unlearned on it (None when not run)


def modalities_of(entries: list[ReportEntry]) -> list[str]:
    present = {e.modality for e in entries if e.kind == "unlearned" and e.modality}
    return [m for m in MODALITIES if m in present]


def modality_rows(rows: list[Row]) -> tuple[list[str], list[ModalityRow]]:
    """Rows = methods, groups = modalities, like the paper's Table 3; reference rows repeat per group."""
    modalities = modalities_of([row.entry for row in rows])
    table: dict[str, dict[str, Row | None]] = {}
    for row in rows:
        entry = row.entry
        if entry.kind != "unlearned":
            table[entry.name] = dict.fromkeys(modalities, row)
        elif entry.modality:
            cells = table.setdefault(entry.label, dict.fromkeys(modalities))
            if cells[entry.modality] is not None:
                raise UserError(
                    f"report entries {cells[entry.modality].entry.name!r} and {entry.name!r} are both "
                    f"method {entry.label!r} on modality {entry.modality!r}; the modality table needs one"
                )
            cells[entry.modality] = row
    return modalities, [ModalityRow(label, cells) for label, cells in table.items()]


def modality_table_columns(rows: list[ModalityRow]) -> tuple[Metric, ...]:
    return modality_columns([cell for row in rows for cell in row.cells.values() if cell is not None])


def modality_cells(row: Row | None, columns: tuple[Metric, ...]) -> list[str]:
    if row is None:
        return ["—"] * len(columns)
    return [format_number(row.values[c.key], p_value=c.p_value, digits=2) for c in columns]


def set_apart(row: Row | None) -> bool:
    return row is not None and (row.fails_on_retain or row.entry.status != "completed")


def modality_csv(modalities: list[str], rows: list[ModalityRow]) -> str:
    columns = modality_table_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", *(f"{m}_{c.key}" for m in modalities for c in columns)])
    for row in rows:
        values = []
        for m in modalities:
            cell = row.cells[m]
            values += [csv_number(cell.values[c.key]) if cell else "" for c in columns]
        writer.writerow([row.label, *values])
    return buffer.getvalue()


def modality_markdown(modalities: list[str], rows: list[ModalityRow]) -> str:
    columns = modality_table_columns(rows)
    header = ["method", *(f"{m}: {c.header(short=True)}" for m in modalities for c in columns)]
    lines = [markdown_row(header), markdown_row(["---"] + ["---:"] * (len(header) - 1))]
    for row in rows:
        cells = [markdown_cell(row.label)]
        for m in modalities:
            group = modality_cells(row.cells[m], columns)
            cells += [f"*{c}*" for c in group] if set_apart(row.cells[m]) else group
        lines.append(markdown_row(cells))
    lines += [
        "",
        "Italic cells: the run fails on retain or did not complete (see the leaderboard); — : not run.",
    ]
    return "\n".join(lines) + "\n"


def modality_latex(modalities: list[str], rows: list[ModalityRow]) -> str:
    columns = modality_table_columns(rows)
    width = len(columns)
    groups = ["", *(rf"\multicolumn{{{width}}}{{c}}{{{m}}}" for m in modalities)]
    rules = " ".join(
        rf"\cmidrule(lr){{{2 + i * width}-{1 + (i + 1) * width}}}" for i in range(len(modalities))
    )
    header = ["Method", *(c.latex_header(short=True) for _ in modalities for c in columns)]
    body = []
    for row in rows:
        cells = [latex_escape(row.label)]
        for m in modalities:
            group = [latex_number(c) for c in modality_cells(row.cells[m], columns)]
            cells += grey(group) if set_apart(row.cells[m]) else group
        body.append(cells)
    note = "Grey cells: the run fails on retain or did not complete; --: not run."
    return latex_table("l" + "r" * width * len(modalities), [groups, header], body, note, rules)


# --- shared text layouts ----------------------------------------------------------------------


def latex_table(
    spec: str, headers: list[list[str]], body: list[list[str]], note: str, rules: str = ""
) -> str:
    lines = [
        "% Needs \\usepackage{booktabs} and \\usepackage{xcolor}.",
        f"% {note}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
    ]
    for i, header in enumerate(headers):
        lines.append(" & ".join(header) + r" \\")
        if rules and i == 0 and len(headers) > 1:
            lines.append(rules)
    lines.append("\\midrule")
    lines += [" & ".join(cells) + r" \\" for cells in body]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
