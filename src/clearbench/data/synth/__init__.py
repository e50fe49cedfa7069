"""The offline synthetic CLEAR generator: `generate(out_dir, persons, seed, image_size, density)`.

people.py (names, biographies) · faces.py (face identities, drawing) · scenes.py (backgrounds,
lighting) · text.py (captions, questions, paraphrases, perturbations) · world.py (famous people,
shape scenes, facts) · splits.py (who is forgotten, retained, held out) · build.py (config tables)
· density.py (rows per person, size of the pretrained world) · unseen.py (photos no config trains
on) · photo.py (a photo row's bytes and role) · writer.py (parquet + card).
"""

from __future__ import annotations

import os
from pathlib import Path

from clearbench import atomic
from clearbench.data.synth.density import CLEAR_DENSITY, Density, check_density
from clearbench.errors import UserError

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024
MAX_PERSONS = 2000  # ten times CLEAR's 200: a typo such as 20000 would run for hours


def check_options(
    persons: int, image_size: int, *, names: tuple[str, str] = ("option --persons", "option --image-size")
):
    """Refuse options the generator cannot honour; `names` are what the user wrote (flags or keys)."""
    import random

    from clearbench.data.synth.splits import split_people

    persons_name, size_name = names
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise UserError(
            f"{size_name}: must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels, got {image_size}"
        )
    if persons > MAX_PERSONS:
        raise UserError(f"{persons_name}: at most {MAX_PERSONS} people, got {persons}")
    try:
        split_people(persons, random.Random(0))  # its own checks: someone to forget and to retain
    except UserError as error:
        raise UserError(str(error).replace("option --persons", persons_name)) from None


def generate(
    out_dir, persons: int = 20, seed: int = 0, image_size: int = 64, density: Density = CLEAR_DENSITY
) -> Path:
    """Write a synthetic CLEAR dataset repository to `out_dir` (atomically) and return its path.

    An existing `out_dir` is replaced only when it holds a previous synthetic dataset and nothing
    else: a folder with any file the generator did not write is refused, never deleted.
    """
    from clearbench.data.synth.build import build_tables
    from clearbench.data.synth.writer import write_card, write_tables

    check_options(persons, image_size)
    check_density(density)
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        if not out_dir.exists():
            raise UserError(f"output '{out_dir}' is a broken symbolic link (to {os.readlink(out_dir)})")
        out_dir = out_dir.resolve()  # replace the folder it points to, not the link
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output '{out_dir}' exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not _is_synthetic(out_dir):
            raise UserError(
                f"output '{out_dir}' is a non-empty directory that is not a synthetic "
                "CLEAR dataset; refusing to replace it"
            )
        foreign = _foreign_files(out_dir)
        if foreign:
            shown = ", ".join(f"'{name}'" for name in foreign[:3]) + (" …" if len(foreign) > 3 else "")
            raise UserError(
                f"output '{out_dir}' holds {len(foreign)} file(s) that `data synth` did not write "
                f"({shown}); refusing to replace it: move them away or choose another output"
            )
    tables = build_tables(persons, seed, image_size, density)
    with atomic.directory(out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; a dataset is meant to be shared
        write_tables(tmp, tables)
        write_card(tmp, tables, persons, seed, image_size, density)
    return out_dir


def _is_synthetic(directory: Path) -> bool:
    card = directory / "README.md"
    return card.is_file() and "pretty_name: clearbench synthetic CLEAR" in card.read_text(errors="replace")


def _foreign_files(directory: Path) -> list[str]:
    """Paths under `directory` (relative, sorted) that a synthetic dataset does not consist of."""
    from clearbench.data.schema import SCHEMAS
    from clearbench.data.synth.writer import parquet_path

    ours = {"README.md", *(parquet_path(config) for config in SCHEMAS)}
    folders = {parent for path in ours for parent in map(str, Path(path).parents) if parent != "."}
    foreign = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink() or not (
            relative in ours and path.is_file() or relative in folders and path.is_dir()
        ):
            foreign.append(relative)
    return foreign
