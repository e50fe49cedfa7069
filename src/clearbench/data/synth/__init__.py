"""The offline synthetic CLEAR generator: `generate(out_dir, persons, seed, image_size)`.

people.py (names, biographies) · faces.py (face identities, drawing) · scenes.py (backgrounds,
lighting) · text.py (captions, questions, paraphrases, perturbations) · world.py (famous people,
shape scenes, facts) · splits.py (who is forgotten, retained, held out) · build.py (config tables)
· writer.py (parquet + card).
"""

from __future__ import annotations

from pathlib import Path

from clearbench import atomic
from clearbench.errors import UserError

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024


def generate(out_dir, persons: int = 20, seed: int = 0, image_size: int = 64) -> Path:
    """Write a synthetic CLEAR dataset repository to `out_dir` (atomically) and return its path."""
    from clearbench.data.synth.build import build_tables
    from clearbench.data.synth.writer import write_card, write_tables

    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise UserError(
            f"option --image-size: must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} "
            f"pixels, got {image_size}"
        )
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output '{out_dir}' exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_synthetic(out_dir):
        raise UserError(
            f"output '{out_dir}' is a non-empty directory that is not a synthetic "
            "CLEAR dataset; refusing to replace it"
        )
    tables = build_tables(persons, seed, image_size)
    with atomic.directory(out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; a dataset is meant to be shared
        write_tables(tmp, tables)
        write_card(tmp, tables, persons, seed, image_size)
    return out_dir


def _is_synthetic(directory: Path) -> bool:
    card = directory / "README.md"
    return card.is_file() and "pretty_name: clearbench synthetic CLEAR" in card.read_text(errors="replace")
