"""A report table beyond the leaderboard (significance, privacy, robustness, …): one declaration,
written as CSV and Markdown next to the leaderboard and shown as a section of report.html; and the
cell formatting every table of the report shares (numbers, CSV, Markdown)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from html import escape


def format_number(value: float | None, *, p_value: bool = False, digits: int = 3) -> str:
    """Table text of a number: fixed decimals; p-values below 10^-digits in scientific notation."""
    if value is None:
        return "n/a"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if p_value and value == 0:
        return "0"  # underflow: "0.000" would read as rounding
    if p_value and abs(value) < 10**-digits:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def one_line(text: str | None, limit: int = 160) -> str:
    """A reason squeezed onto one table line; the HTML report shows it in full."""
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def csv_number(value: float | None) -> str:
    return "" if value is None else repr(value)


def markdown_cell(text: str) -> str:
    # Markdown renderers pass raw HTML through, so < > & are entities too.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


@dataclass
class Table:
    name: str  # file stem in the report folder
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([self.header, *self.rows])
        return buffer.getvalue()

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", markdown_row([markdown_cell(h) for h in self.header])]
        lines.append(markdown_row(["---"] * len(self.header)))
        lines += [markdown_row([markdown_cell(c) for c in row]) for row in self.rows]
        return "\n".join(lines + ([f"\n{self.note}"] if self.note else [])) + "\n"

    def html(self, collapsed: bool = False) -> str:
        """A section; `collapsed`: the table and its note behind a click (long tables; the CSV has it)."""
        head = "".join(f"<th>{escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        table = f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        note = f'<p class="note">{escape(self.note)}</p>' if self.note else ""
        title = f'<h2 id="{escape(self.name)}">{escape(self.title)}</h2>'
        if collapsed:
            summary = f"show {len(self.rows)} rows (also {escape(self.name)}.csv)"
            return f'{title}\n<details id="{escape(self.name)}-table"><summary>{summary}</summary>{table}{note}</details>'
        return "\n".join(part for part in (title, table, note) if part)
