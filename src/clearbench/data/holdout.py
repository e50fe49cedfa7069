"""Holdout people: the non-members of the membership attacks, for a source that has none.

The synthetic source has `holdoutNN` / `tofu_holdoutNN` configs of people no training config holds.
`therem/CLEAR` has none, so a set of its retained people is withheld from target and gold training
instead (a deviation from the paper's target, which trains on every person; report it):

- who: `count` people (default: as many as the forget set) drawn with `seed` from the people of
  `full` that are neither forget people (`forgetNN`) nor retain-evaluation people
  (`retain_perturbed`, who must stay trained for the retain tasks). Deterministic for a seed.
- training: `HoldoutPlan.keep` is the row filter for every training config (`full+tofu`,
  `retainNN+tofu`, and any other). A caption row goes when its `name` is held out, or, in the
  `+tofu` configs that carry no name, when its caption is one of theirs in `full`. A TOFU text row
  (no person column anywhere in CLEAR or TOFU) goes when its question or answer names a held-out
  person in full: most TOFU questions do, some ("the author born in …") do not, so a few facts about
  the held-out people may stay in training; the text half's AUC is then a lower bound.
- evaluation: `eval_rows(full)` (captions of the held-out people: the `holdout_captions` task) and
  `text_eval_rows(tofu_full)` (their TOFU questions, as above: `tofu_holdout`).

`HoldoutPlan.record()` is what `run.json` should record. A source with holdout configs gets a plan
that only checks them (`derived` False).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from clearbench.data.split_names import split_percent
from clearbench.errors import UserError

RETAIN_EVAL_CONFIG = "retain_perturbed"


@dataclass(frozen=True)
class HoldoutPlan:
    people: tuple[str, ...]
    forget_split: str
    seed: int | None = None
    derived: bool = True  # withheld from training here (False: the source's own holdout configs)
    captions: frozenset[str] = field(default=frozenset(), repr=False)  # their captions in `full`

    def record(self) -> dict:
        """What the run records about its holdout people (run.json)."""
        how = (
            "withheld from target and gold training (source has no holdout configs)"
            if self.derived
            else f"the source's holdout{split_percent(self.forget_split)} configs"
        )
        return {"people": list(self.people), "count": len(self.people), "seed": self.seed, "how": how}

    def keep(self, row: Mapping) -> bool:
        """Whether a training row may stay: False for a row about a held-out person."""
        name = row.get("name")
        if name:
            return name not in self.people
        caption = row.get("caption")
        if caption:
            return caption not in self.captions
        text = " ".join(str(row.get(column) or "") for column in ("question", "answer"))
        return self._pattern().search(text) is None

    def withhold(self, dataset):
        """`dataset` (a `datasets.Dataset` of training rows) without the held-out people's rows."""
        if not self.derived:
            return dataset
        columns = [c for c in ("name", "caption", "question", "answer") if c in dataset.column_names]
        return dataset.filter(lambda *values: self.keep(dict(zip(columns, values))), input_columns=columns)

    def eval_rows(self, full):
        """The held-out people's rows of `full` (image, caption, name): the holdout captions task."""
        people = set(self.people)
        return full.filter(lambda name: name in people, input_columns=["name"])

    def text_eval_rows(self, tofu_full):
        """The TOFU questions that name a held-out person (question or answer): the text holdout task."""
        return tofu_full.filter(
            lambda q, a: not self.keep({"question": q, "answer": a}), input_columns=["question", "answer"]
        )

    def _pattern(self) -> re.Pattern:
        names = sorted(self.people, key=len, reverse=True)
        return re.compile("|".join(rf"\b{re.escape(name)}\b" for name in names) or r"(?!x)x")


def choose_people(
    people: Iterable[str], forget: Iterable[str], retain_eval: Iterable[str], count: int, seed: int
) -> tuple[str, ...]:
    """`count` people of `people` outside the forget and retain-evaluation people, drawn with `seed`.

    The candidates are sorted first, so the draw depends on who they are, not on row order.
    """
    excluded = set(forget) | set(retain_eval)
    candidates = sorted(set(people) - excluded)
    if count < 1:
        raise UserError(f"holdout: the number of holdout people must be at least 1, got {count}")
    if count > len(candidates):
        raise UserError(
            f"holdout: {count} people asked for, but only {len(candidates)} are neither forget nor "
            "retain-evaluation people"
        )
    return tuple(sorted(random.Random(f"{seed}:holdout").sample(candidates, count)))


def check_people(holdout: Iterable[str], forget: Iterable[str], retain: Iterable[str], where: str) -> None:
    """Holdout people must exist and never be forget or retain people; errors say who and where."""
    holdout = set(holdout)
    if not holdout:
        raise UserError(f"{where}: the holdout set is empty (membership attacks need non-members)")
    for role, others in (("forget", set(forget)), ("retain", set(retain))):
        both = sorted(holdout & others)
        if both:
            raise UserError(f"{where}: holdout people also among the {role} people: {', '.join(both)}")


def plan_holdout(
    source: str,
    forget_split: str,
    revision: str | None = None,
    *,
    count: int | None = None,
    seed: int = 0,
    people: Iterable[str] | None = None,
) -> HoldoutPlan:
    """The holdout people of a run: the source's own `holdoutNN`, or people withheld from training.

    With holdout configs their people are checked against every training person (`full`). Without,
    `people` (names of `full`) or `count` people drawn with `seed` (default count: the forget set's
    size) are checked against the forget people and the retain-evaluation people.
    """
    from clearbench.data.load import list_configs, load_split

    percent = split_percent(forget_split)
    names = _names(load_split(source, "full", revision), source, "full")
    forget = _names(load_split(source, forget_split, revision), source, forget_split)
    if f"holdout{percent}" in list_configs(source):
        own = _names(load_split(source, f"holdout{percent}", revision), source, f"holdout{percent}")
        check_people(own, forget, names - forget, f"data source '{source}', config 'holdout{percent}'")
        return HoldoutPlan(tuple(sorted(own)), forget_split, derived=False)
    retain_eval = _names(load_split(source, RETAIN_EVAL_CONFIG, revision), source, RETAIN_EVAL_CONFIG)
    if people is None:
        chosen = choose_people(names, forget, retain_eval, len(forget) if count is None else count, seed)
    else:
        chosen = check_named(source, forget_split, people, revision)
    full = load_split(source, "full", revision)
    captions = frozenset(c for c, n in zip(full["caption"], full["name"]) if n in set(chosen))
    return HoldoutPlan(chosen, forget_split, seed if people is None else None, True, captions)


def check_named(source: str, forget_split: str, people: Iterable[str], revision: str | None = None) -> tuple:
    """Holdout people named by the user (`--holdout-people`): people of `full`, never forget people
    and never retain-evaluation people (else the "non-members" would be members)."""
    from clearbench.data.load import load_split

    chosen = tuple(sorted(set(people)))
    check_people(chosen, [], [], "holdout people")  # not empty
    names = _names(load_split(source, "full", revision), source, "full")
    unknown = sorted(set(chosen) - names)
    if unknown:
        raise UserError(f"holdout people not in data source '{source}', config 'full': {', '.join(unknown)}")
    forget = _names(load_split(source, forget_split, revision), source, forget_split)
    retain_eval = _names(load_split(source, RETAIN_EVAL_CONFIG, revision), source, RETAIN_EVAL_CONFIG)
    check_people(chosen, forget, retain_eval, "holdout people")
    return chosen


def _names(dataset, source: str, config: str) -> set[str]:
    if "name" not in dataset.column_names:
        raise UserError(
            f"data source '{source}', config '{config}': no column 'name' to tell its people apart"
        )
    return set(dataset["name"])
