"""The split vocabulary, declared once: forgetNN holds NN % of the people, nested smallest first
(forget01 ⊂ forget05 ⊂ forget10), and pairs with retain(100-NN), everyone else.

Its own light module (no `datasets`), so the command line can offer the names as choices without
paying for the column schemas; data/schema.py re-exports it beside the configs it names.
"""

from __future__ import annotations

from clearbench.errors import UserError

FORGET_PERCENTS = ("01", "05", "10")
RETAIN_OF = {"01": "99", "05": "95", "10": "90"}
FORGET_SPLITS = tuple(f"forget{percent}" for percent in FORGET_PERCENTS)


def check_forget_split(forget_split: str, where: str = "forget split") -> str:
    """`forget_split` if it is one of FORGET_SPLITS; otherwise UserError naming `where` it came from."""
    if forget_split not in FORGET_SPLITS:
        raise UserError(
            f"{where} {forget_split!r} must be {', '.join(FORGET_SPLITS[:-1])} or {FORGET_SPLITS[-1]}"
        )
    return forget_split


def split_percent(forget_split: str) -> str:
    """The percent of a forget split: forget05 → "05"."""
    return check_forget_split(forget_split).removeprefix("forget")


def retain_split(forget_split: str) -> str:
    """The people kept when `forget_split` is forgotten: forget05 → retain95."""
    return "retain" + RETAIN_OF[split_percent(forget_split)]
