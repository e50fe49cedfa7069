"""A report table beyond the leaderboard (significance, privacy, robustness, …): one declaration,
written as CSV and Markdown next to the leaderboard and shown as a section of report.html."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from html import escape


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
        from clearbench.report.leaderboard import markdown_cell, markdown_row

        lines = [f"## {self.title}", "", markdown_row([markdown_cell(h) for h in self.header])]
        lines.append(markdown_row(["---"] * len(self.header)))
        lines += [markdown_row([markdown_cell(c) for c in row]) for row in self.rows]
        return "\n".join(lines + ([f"\n{self.note}"] if self.note else [])) + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        parts = [
            f'<h2 id="{escape(self.name)}">{escape(self.title)}</h2>',
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        ]
        if self.note:
            parts.append(f'<p class="note">{escape(self.note)}</p>')
        return "\n".join(parts)
