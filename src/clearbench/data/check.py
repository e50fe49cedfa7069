"""Validate a CLEAR source: configs, columns and types, rows, and how the splits relate.

Every finding is a `Problem` naming config, row and column, so a user can fix the data without
reading code. Row-level problems are capped per (config, column) so a broken column does not
print thousands of lines.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass

from clearbench.data.load import list_configs, load_split, quiet
from clearbench.data.schema import FORGET_PERCENTS, RETAIN_OF, SCHEMAS, TOFU_PREFIX, ConfigSchema
from clearbench.errors import UserError

ROW_PROBLEMS_PER_COLUMN = 10


@dataclass(frozen=True)
class Problem:
    config: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [f"config '{self.config}'"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"


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
                dataset = load_split(source, name, revision)
        except UserError as error:
            problems.append(Problem(name, f"cannot load: {error}"))
            continue
        rows[name] = len(dataset)
        table, column_problems = check_columns(schema, dataset)
        problems += column_problems
        problems += check_rows(schema, table)
        tables[name] = table
    problems += check_relations(tables)
    return Report(problems, rows)


# --- columns and types --------------------------------------------------------------------------


def feature_kind(feature) -> str:
    """A short, comparable name for a feature type: 'image', 'string', 'list[string]', …"""
    from datasets import Image, LargeList, Sequence, Value

    if isinstance(feature, Image):
        return "image"
    if isinstance(feature, Value):
        return "string" if feature.dtype in ("string", "large_string") else feature.dtype
    if isinstance(feature, (Sequence, LargeList)) or type(feature).__name__ == "List":
        return f"list[{feature_kind(feature.feature)}]"
    if isinstance(feature, list) and feature:
        return f"list[{feature_kind(feature[0])}]"
    if isinstance(feature, dict):
        return "struct"
    return type(feature).__name__


def check_columns(schema: ConfigSchema, dataset) -> tuple[dict[str, list], list[Problem]]:
    """Columns present with the right types, as plain Python lists (images undecoded)."""
    problems, table = [], {}
    for column, expected in schema.features.items():
        if column not in dataset.features:
            if column not in schema.optional_columns:
                problems.append(Problem(schema.name, "column is missing", column=column))
            continue
        actual = dataset.features[column]
        if feature_kind(actual) != feature_kind(expected):
            problems.append(
                Problem(
                    schema.name,
                    f"wrong type: expected {feature_kind(expected)}, found {feature_kind(actual)}",
                    column=column,
                )
            )
            continue
        # Straight from Arrow: fast, and images stay undecoded ({"bytes", "path"}).
        table[column] = dataset.data.column(column).to_pylist()
    return table, problems


# --- rows -----------------------------------------------------------------------------------------


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _decodes(value) -> bool:
    from PIL import Image

    try:
        data = value.get("bytes") if isinstance(value, dict) else None
        if data is None and isinstance(value, dict) and value.get("path"):
            with open(value["path"], "rb") as handle:
                data = handle.read()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except Exception:  # any decoder failure means the same thing to the user
        return False


class _RowProblems:
    """Collects row problems, at most ROW_PROBLEMS_PER_COLUMN per column, then one summary line."""

    def __init__(self, config: str):
        self.config, self.kept, self.dropped = config, [], Counter()
        self.per_column: Counter = Counter()

    def add(self, row: int, column: str, message: str) -> None:
        self.per_column[column] += 1
        if self.per_column[column] <= ROW_PROBLEMS_PER_COLUMN:
            self.kept.append(Problem(self.config, message, row, column))
        else:
            self.dropped[column] += 1

    def problems(self) -> list[Problem]:
        return self.kept + [
            Problem(self.config, f"{count} more rows with problems", column=column)
            for column, count in self.dropped.items()
        ]


def _mixed_row_columns(config: str, row: dict) -> list[str]:
    """For configs that mix caption rows and text rows, the columns this row must fill."""
    if config.endswith("+tofu"):
        return (
            ["image", "caption"]
            if not _blank(row.get("caption")) or row.get("image")
            else ["question", "answer"]
        )
    if config == "pretraining":
        return ["caption"] if not _blank(row.get("caption")) else ["question", "answer"]
    return list(row)


def check_rows(schema: ConfigSchema, table: dict[str, list]) -> list[Problem]:
    from datasets import Image

    found = _RowProblems(schema.name)
    count = len(next(iter(table.values()))) if table else 0
    decoded: dict[bytes, bool] = {}
    list_lengths = {
        column: Counter(len(v) for v in values if v)
        for column, values in table.items()
        if feature_kind(schema.features[column]).startswith("list")
    }
    usual_length = {
        column: lengths.most_common(1)[0][0] for column, lengths in list_lengths.items() if lengths
    }
    for index in range(count):
        row = {column: values[index] for column, values in table.items()}
        required = _mixed_row_columns(schema.name, row)
        for column, value in row.items():
            feature = schema.features[column]
            if _blank(value):
                if column in required:
                    found.add(index, column, "value is empty")
                continue
            if isinstance(feature, Image):
                key = value.get("bytes") or value.get("path") or b""
                if key not in decoded:
                    decoded[key] = _decodes(value)
                if not decoded[key]:
                    found.add(index, column, "cannot decode image")
            elif column in list_lengths:
                if not value:
                    found.add(index, column, "list is empty")
                elif any(_blank(item) for item in value):
                    found.add(index, column, "list has an empty item")
                elif len(value) != usual_length[column]:
                    found.add(
                        index,
                        column,
                        f"list has {len(value)} items, most rows have {usual_length[column]}",
                    )
    return found.problems()


# --- how configs relate ---------------------------------------------------------------------------


def _names(tables, config) -> set[str] | None:
    table = tables.get(config)
    return None if table is None or "name" not in table else {n for n in table["name"] if n}


def _listing(names: set[str], limit: int = 5) -> str:
    shown = sorted(names)[:limit]
    return ", ".join(shown) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_relations(tables: dict[str, dict[str, list]]) -> list[Problem]:
    problems = []
    full = _names(tables, "full")
    for percent in FORGET_PERCENTS:
        forget_name, retain_name = f"forget{percent}", f"retain{RETAIN_OF[percent]}"
        forget, retain = _names(tables, forget_name), _names(tables, retain_name)
        if forget is not None and retain is not None:
            if forget & retain:
                problems.append(
                    Problem(
                        forget_name,
                        f"persons also in '{retain_name}': {_listing(forget & retain)}",
                        column="name",
                    )
                )
            if full is not None and forget | retain != full:
                missing, extra = full - (forget | retain), (forget | retain) - full
                if missing:
                    problems.append(
                        Problem(
                            retain_name,
                            f"persons of 'full' in neither '{forget_name}' "
                            f"nor '{retain_name}': {_listing(missing)}",
                            column="name",
                        )
                    )
                if extra:
                    problems.append(
                        Problem(forget_name, f"persons not in 'full': {_listing(extra)}", column="name")
                    )
        problems += _drawn_from(tables, f"{forget_name}_perturbed", forget_name, "caption")
        problems += _drawn_from(
            tables, f"{TOFU_PREFIX}{forget_name}_perturbed", f"{TOFU_PREFIX}{forget_name}", "question"
        )
        problems += _partition_sizes(tables, f"{TOFU_PREFIX}{forget_name}", f"{TOFU_PREFIX}{retain_name}")
    bases = (
        ["full"]
        + [f"forget{p}" for p in FORGET_PERCENTS]
        + [f"retain{RETAIN_OF[p]}" for p in FORGET_PERCENTS]
    )
    for base in bases:
        problems += _tofu_variant_size(tables, base)
    problems += _drawn_from(tables, "retain_perturbed", "retain90", "caption")
    problems += _drawn_from(tables, f"{TOFU_PREFIX}retain_perturbed", f"{TOFU_PREFIX}retain90", "question")
    trained_questions = set(tables.get(f"{TOFU_PREFIX}full", {}).get("question", []))
    for percent in FORGET_PERCENTS:
        config = f"{TOFU_PREFIX}holdout{percent}"
        leaked = set(tables.get(config, {}).get("question", [])) & trained_questions
        if leaked:
            problems.append(
                Problem(config, f"{len(leaked)} questions also in '{TOFU_PREFIX}full'", column="question")
            )
        holdout = _names(tables, f"holdout{percent}")
        if holdout is not None and full is not None and holdout & full:
            problems.append(
                Problem(
                    f"holdout{percent}",
                    f"persons also in 'full' (holdout people must "
                    f"never be trained on): {_listing(holdout & full)}",
                    column="name",
                )
            )
    return problems


def _drawn_from(tables, subset: str, base: str, column: str) -> list[Problem]:
    """Each row of `subset` must repeat a row of `base` (same `column` value, and same person)."""
    if subset not in tables or base not in tables:
        return []
    found = _RowProblems(subset)
    for key in (column, "name"):
        if key not in tables[subset] or key not in tables[base]:
            continue
        known = set(tables[base][key])
        for index, value in enumerate(tables[subset][key]):
            if value is not None and value not in known:
                found.add(index, key, f"not drawn from '{base}' (no row there has this {key})")
    return found.problems()


def _partition_sizes(tables, forget: str, retain: str) -> list[Problem]:
    full = f"{TOFU_PREFIX}full"
    if not all(name in tables and "question" in tables[name] for name in (forget, retain, full)):
        return []
    sizes = {name: len(tables[name]["question"]) for name in (forget, retain, full)}
    if sizes[forget] + sizes[retain] != sizes[full]:
        return [
            Problem(
                retain,
                f"'{forget}' ({sizes[forget]} rows) and '{retain}' ({sizes[retain]} rows) "
                f"do not add up to '{full}' ({sizes[full]} rows)",
            )
        ]
    return []


def _tofu_variant_size(tables, base: str) -> list[Problem]:
    """`X+tofu` holds the caption rows of `X` and the text rows of `tofu_X`, nothing else."""
    variant, text = f"{base}+tofu", f"{TOFU_PREFIX}{base}"
    if not all(name in tables and table_size(tables[name]) is not None for name in (base, variant, text)):
        return []
    sizes = {name: table_size(tables[name]) for name in (base, variant, text)}
    if sizes[variant] != sizes[base] + sizes[text]:
        return [
            Problem(
                variant,
                f"has {sizes[variant]} rows, expected {sizes[base]} from '{base}' plus {sizes[text]} "
                f"from '{text}'",
            )
        ]
    return []


def table_size(table: dict[str, list]) -> int | None:
    return len(next(iter(table.values()))) if table else None
