"""Validate a CLEAR source: configs, columns and types, rows, and how the splits relate.

Every finding is a `Problem` naming config, row and column, so a user can fix the data without
reading code. Row-level problems are capped per (config, column) so a broken column does not
print thousands of lines.

`clearbench data check` runs every check on every config (data/audit.py loads them). The checks of
one config's columns and rows (`check_split`) also run whenever a command loads a config
(`clearbench.data.load.load_split`), so this module never imports the loading back:
`finetune`, `unlearn`, `eval`, `data preview` and `run` refuse bad rows before any model is loaded.

Limits on what a row may hold, so that one bad row cannot exhaust memory:

- `MAX_IMAGE_PIXELS` = 4096 x 4096 (16.8 megapixels) per image, read from the image header before
  anything is decoded. A decoded RGB image of that size takes 48 MiB; CLEAR's photos are far
  smaller. PIL's own guard (`PIL.Image.MAX_IMAGE_PIXELS`, 89.5 megapixels, an error at twice that)
  lets through images of up to 0.5 GiB each, too much for a batch, so the limit here is stricter.
  Images must be stored in the data files (bytes, not a path to a file elsewhere), decodable, and
  not empty.
- `MAX_TEXT_CHARS` = 4096 characters per text (a caption, question, answer, name, or one item of a
  list). CLEAR's and TOFU's texts are a few hundred characters; 4096 characters are at most ~4096
  tokens, the context of LLaVA-1.5. Unbounded text is tokenised whole, and attention over a
  100,000-character caption would try to allocate tens of gigabytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections import Counter
from dataclasses import dataclass

from clearbench.data.schema import FORGET_PERCENTS, RETAIN_OF, SCHEMAS, TOFU_PREFIX, ConfigSchema
from clearbench.errors import UserError

ROW_PROBLEMS_PER_COLUMN = 10
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_TEXT_CHARS = 4096


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


def check_split(config: str, dataset, schema: ConfigSchema | None = None) -> tuple[dict, list[Problem]]:
    """Columns, types and rows of one loaded config: (its columns as lists, the problems found).

    A config unknown to the schema (a user's own training config) gets the row checks of its own
    columns: images, text limits, and a caption or a question/answer in every row.
    """
    schema = schema or SCHEMAS.get(config) or ConfigSchema(config, dataset.features, required=False)
    table, problems = check_columns(schema, dataset)
    if len(dataset) == 0:
        problems.append(Problem(config, "config has no rows"))
    return table, problems + check_rows(schema, table)


_valid_splits: set[tuple] = set()


def require_valid(source: str, config: str, dataset) -> None:
    """Raise a one-line UserError naming the first problem of a loaded config (see `check_split`).

    A split that passed is remembered for the rest of the process by its Arrow files and fingerprint.
    """
    files = tuple(entry.get("filename") for entry in getattr(dataset, "cache_files", []) or [])
    key = (source, config, getattr(dataset, "_fingerprint", None), files)
    if key in _valid_splits and key[2] is not None:
        return
    _, problems = check_split(config, dataset)
    if problems:
        more = len(problems) - 1
        also = f" ({more} more problem{'s' if more > 1 else ''}: see `clearbench data check {source}`)"
        raise UserError(f"data source '{source}', {problems[0]}" + (also if more else ""))
    _valid_splits.add(key)


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


def image_problem(value) -> str | None:
    """What is wrong with a stored image (`{"bytes", "path"}`), or None when it decodes within limits."""
    from PIL import Image

    if not isinstance(value, dict):
        return f"not an image value ({type(value).__name__})"
    data = value.get("bytes")
    if data is None:
        if value.get("path"):
            # datasets would open this path wherever it points, outside the data files and their hash
            return f"image is not stored in the data file; it names the file '{value['path']}'"
        return "value is empty"
    if len(data) == 0:
        return "image is empty (0 bytes)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    return _too_large(width, height)
                image.load()
                image.convert("RGB")
    except Image.DecompressionBombError as error:  # PIL refuses to even open it
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(claimed.group(1)):,} pixels" if claimed else "a decompression bomb"
        return f"image is too large ({size}), more than the limit of {MAX_IMAGE_PIXELS:,} pixels (4096x4096)"
    except Image.UnidentifiedImageError:
        return "cannot decode image (not a known image format)"
    except Exception as error:  # any decoder failure means the same thing to the user
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"cannot decode image ({re.sub(r' ?<[^>]*>', '', detail)[:200]})"
    return None


def _too_large(width: int, height: int) -> str:
    return (
        f"image is {width}x{height} ({width * height:,} pixels), more than the limit of "
        f"{MAX_IMAGE_PIXELS:,} pixels (4096x4096)"
    )


def _too_long(text: str) -> str | None:
    if len(text) > MAX_TEXT_CHARS:
        return f"text has {len(text):,} characters, more than the limit of {MAX_TEXT_CHARS:,}"
    return None


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
    if config == "pretraining" or config not in SCHEMAS:
        # A user's own config is used for training: a row needs a caption or a question and answer.
        if "caption" in row and (not _blank(row["caption"]) or "question" not in row):
            return ["caption"]
        return [column for column in ("question", "answer") if column in row]
    return list(row)


def check_rows(schema: ConfigSchema, table: dict[str, list]) -> list[Problem]:
    from datasets import Image

    found = _RowProblems(schema.name)
    count = len(next(iter(table.values()))) if table else 0
    decoded: dict[object, str | None] = {}
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
                key = (value.get("bytes"), value.get("path")) if isinstance(value, dict) else repr(value)
                if key not in decoded:
                    decoded[key] = image_problem(value)
                if decoded[key]:
                    found.add(index, column, decoded[key])
            elif isinstance(value, str):
                if _too_long(value):
                    found.add(index, column, _too_long(value))
            elif column in list_lengths:
                too_long = next(
                    (_too_long(item) for item in value if isinstance(item, str) and _too_long(item)), None
                )
                if not value:
                    found.add(index, column, "list is empty")
                elif any(_blank(item) for item in value):
                    found.add(index, column, "list has an empty item")
                elif too_long:
                    found.add(index, column, f"a list item: {too_long}")
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
    problems += check_forget_kept_out(tables)
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


# Configs that must hold nothing of a forget set: what the gold model trains on, the retain,
# holdout (never-trained) and real-world evaluation sets. `{retain}` is the forget set's retain.
KEPT_APART = (
    "retain{retain}",
    "retain{retain}+tofu",
    TOFU_PREFIX + "retain{retain}",
    "retain_perturbed",
    TOFU_PREFIX + "retain_perturbed",
    *(f"holdout{percent}" for percent in FORGET_PERCENTS),
    *(f"{TOFU_PREFIX}holdout{percent}" for percent in FORGET_PERCENTS),
    "real_faces",
    "real_world",
    TOFU_PREFIX + "real_authors_perturbed",
    TOFU_PREFIX + "world_facts_perturbed",
)
# Where a forget set's content is, by column: its people, captions, questions and photos.
FORGET_HOLDERS = (
    "forget{percent}",
    "forget{percent}+tofu",
    "forget{percent}_perturbed",
    TOFU_PREFIX + "forget{percent}",
)


def _image_key(value) -> str | None:
    """The photo's content hash (the same image stored twice is found, whatever its file name)."""
    data = value.get("bytes") if isinstance(value, dict) else None
    return hashlib.sha256(data).hexdigest() if data else None


def _forget_content(tables, percent: str) -> dict[str, set]:
    content: dict[str, set] = {"name": set(), "caption": set(), "question": set(), "image": set()}
    for pattern in FORGET_HOLDERS:
        table = tables.get(pattern.format(percent=percent), {})
        for column, found in content.items():
            values = table.get(column, [])
            found.update(filter(None, map(_image_key, values) if column == "image" else values))
    return content


def check_forget_kept_out(tables: dict[str, dict[str, list]]) -> list[Problem]:
    """No forget person's name, caption, question or photo in a retain, holdout or real set: a gold
    model trained on them, or utility scored on them, would not measure forgetting."""
    problems = []
    for percent in FORGET_PERCENTS:
        forget = f"forget{percent}"
        content = _forget_content(tables, percent)
        for pattern in KEPT_APART:
            config = pattern.format(retain=RETAIN_OF[percent])
            table = tables.get(config)
            if not table:
                continue
            found = _RowProblems(config)
            for column, known in content.items():
                values = table.get(column, [])
                for row, value in enumerate(values):
                    key = _image_key(value) if column == "image" else value
                    if key and key in known:
                        what = "photo" if column == "image" else column
                        found.add(row, column, f"holds a {what} of '{forget}' (forget content outside it)")
            problems += found.problems()
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
