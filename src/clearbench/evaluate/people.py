"""Whose row is it: the person each evaluated row is about, the unit the bootstrap resamples.

A person's photos and questions are not independent draws (they share one face, one biography), so
intervals resample people, not rows (`evaluate.bootstrap`). The eval log records the person of each
row under the per-sample key `person`:

- image rows carry the person's name (column `name`);
- TOFU / text rows have no person column anywhere in CLEAR or TOFU: a row belongs to the person of
  the evaluation whose name its question or answer contains (the longest match; `data.holdout`
  matches held-out people the same way); a question that names nobody ("the author born in …")
  gets no person.

A row without a person (real-world facts, an unmatched question, a log written before this key
existed, an official TOFU / CLEAR log) is its own unit in the bootstrap, and the interval says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

LOG_KEY = "person"


def known_people(datasets: Iterable, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Every name in the `name` column of these datasets, plus `extra` (held-out people)."""
    names = set(extra)
    for dataset in datasets:
        if "name" in (getattr(dataset, "column_names", None) or ()):
            names.update(name for name in dataset["name"] if name)
    return tuple(sorted(names))


def name_pattern(people: Iterable[str]) -> re.Pattern | None:
    names = sorted(set(people), key=len, reverse=True)  # the longest name wins ("Ann Lee" ⊃ "Ann")
    return re.compile("|".join(rf"\b{re.escape(name)}\b" for name in names)) if names else None


def row_person(row: Mapping, pattern: re.Pattern | None) -> str | None:
    """The person a data row is about: its `name`, else the first known name in its question or
    answer; None when neither says."""
    name = row.get("name")
    if isinstance(name, str) and name:
        return name
    if pattern is None:
        return None
    text = " ".join(str(row.get(column) or "") for column in ("question", "answer"))
    found = pattern.search(text)
    return found.group(0) if found else None


def rows_people(rows, people: Iterable[str]) -> list[str | None]:
    """`row_person` of every row of a dataset (or list of row dicts), read by column so that no
    image is decoded."""
    pattern = name_pattern(people)
    columns = getattr(rows, "column_names", None)
    if columns is None:
        return [row_person(row, pattern) for row in rows]
    wanted = [c for c in ("name", "question", "answer") if c in columns]
    if not wanted:
        return [None] * len(rows)
    values = {c: rows[c] for c in wanted}
    return [row_person({c: values[c][i] for c in wanted}, pattern) for i in range(len(rows))]


def log_people(log: Mapping) -> list[str | None] | None:
    """The person of each row of a task log (in sample order), or None when it records none."""
    people = log.get(LOG_KEY)
    if not isinstance(people, Mapping) or not people:
        return None
    rows = sorted(log["avg_gt_loss"], key=int)
    return [people.get(row) if isinstance(people.get(row), str) else None for row in rows]
