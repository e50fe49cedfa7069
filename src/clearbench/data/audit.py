"""`clearbench data check`: load every known config of a source and run check.py's checks on it.

Loading (load.py) validates each split through check.py; this module sits above both, so the
checks never import the loading back.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearbench.data.check import Problem, check_relations, check_split
from clearbench.data.load import list_configs, load_split, quiet
from clearbench.data.schema import SCHEMAS
from clearbench.errors import UserError


@dataclass
class Report:
    problems: list[Problem]
    rows: dict[str, int]  # config → row count, for every config that loaded

    @property
    def ok(self) -> bool:
        return not self.problems


def check_source(source: str, revision: str | None = None) -> Report:
    """Check every known config of `source`; unknown extra configs are left alone."""
    available = set(list_configs(source))
    problems: list[Problem] = []
    tables: dict[str, dict[str, list]] = {}
    rows: dict[str, int] = {}
    for name, schema in SCHEMAS.items():
        if name not in available:
            if schema.required:
                problems.append(Problem(name, "config is missing"))
            continue
        try:
            with quiet():
                dataset = load_split(source, name, revision, validate=False)
        except UserError as error:
            problems.append(Problem(name, f"cannot load: {error}"))
            continue
        rows[name] = len(dataset)
        table, split_problems = check_split(name, dataset, schema)
        problems += split_problems
        tables[name] = table
    problems += check_relations(tables)
    return Report(problems, rows)
