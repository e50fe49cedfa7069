"""Where the attack stage writes: one folder per variant and model (see stage.py), and its record."""

from __future__ import annotations

import json
from pathlib import Path

from clearbench.attacks.base import Source, Variant
from clearbench.errors import UserError

CLEAN = Variant("none", "clean", {})  # the forget tasks as declared: the "before" numbers
RECORD = "attack.json"
RECORDS = "records.json"
EVAL = "eval"


def folder(out: Path, variant: Variant, source: Source) -> Path:
    return Path(out) / variant.name / source.name


def read_record(path: Path) -> dict | None:
    try:
        return json.loads((Path(path) / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise UserError(f"{Path(path) / RECORD}: cannot read the earlier attack's record: {error}") from None
