"""A contact sheet of a config: images in a grid with their name or caption underneath."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from clearbench.atomic import write_bytes
from clearbench.errors import UserError

TILE = 160  # pixels per image, whatever the source resolution
TEXT_LINES = 5


def _label(row: dict) -> str:
    for column in ("caption", "name", "question"):
        if row.get(column):
            text = row[column]
            if column == "question" and row.get("answer"):
                text = f"{text} -> {row['answer']}"
            return text
    return str(row.get("answer") or "")


def render_grid(rows: list[dict], columns: int = 4) -> Image.Image:
    """Rows with an `image` (PIL) drawn on a white sheet, each with its wrapped label below."""
    font = ImageFont.load_default()
    line_height = 12
    cell_w, cell_h = TILE + 8, TILE + 8 + TEXT_LINES * line_height
    count_rows = max(1, -(-len(rows) // columns))
    sheet = Image.new("RGB", (columns * cell_w, count_rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    chars_per_line = TILE // 6
    for index, row in enumerate(rows):
        x, y = (index % columns) * cell_w + 4, (index // columns) * cell_h + 4
        sheet.paste(row["image"].convert("RGB").resize((TILE, TILE), Image.NEAREST), (x, y))
        lines = textwrap.wrap(_label(row), chars_per_line)[:TEXT_LINES]
        for line_index, line in enumerate(lines):
            draw.text((x, y + TILE + 2 + line_index * line_height), line, fill="black", font=font)
    return sheet


def preview(
    source: str, config: str, out: str | Path, count: int = 16, columns: int = 4, revision: str | None = None
) -> Path:
    """Write a PNG grid of the first `count` rows of `config` that have an image."""
    from clearbench.data.load import load_split

    if count < 1 or columns < 1:
        raise UserError("options --count and --columns must be at least 1")
    dataset = load_split(source, config, revision)
    if "image" not in dataset.features:
        raise UserError(f"config '{config}' has no image column to preview")
    rows = []
    for row in dataset:
        if row.get("image") is not None:
            rows.append(row)
            if len(rows) == count:
                break
    if not rows:
        raise UserError(f"config '{config}' of '{source}' has no rows with an image")
    out = Path(out)
    buffer = io.BytesIO()
    render_grid(rows, columns).save(buffer, format="PNG")
    write_bytes(out, buffer.getvalue())
    return out
