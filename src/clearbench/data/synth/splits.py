"""Which people go where: nested forget sets, an evaluation sample of retained people, holdouts.

As in CLEAR/TOFU, forget01 ⊂ forget05 ⊂ forget10 and retainNN is the complement of forgetNN.
Holdout people are extra people of the same kind who never appear in any training config, so a
membership-inference attack has true non-members.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clearbench.data.schema import FORGET_PERCENTS
from clearbench.errors import UserError


def forget_count(persons: int, percent: str) -> int:
    """People in forgetNN: NN % of `persons`, rounded, at least one."""
    return max(1, round(persons * int(percent) / 100))


@dataclass(frozen=True)
class PersonSplits:
    forget: dict[str, list[int]]  # percent → indices into the training people, in people order
    retain_perturbed: list[int]
    holdout: dict[str, list[int]]  # percent → indices into the holdout people

    def retain(self, percent: str, persons: int) -> list[int]:
        forgotten = set(self.forget[percent])
        return [i for i in range(persons) if i not in forgotten]


def split_people(persons: int, rng: random.Random) -> PersonSplits:
    if persons < 2:
        raise UserError(
            f"option --persons: need at least 2 people (one to forget, one to retain), got {persons}"
        )
    counts = {percent: forget_count(persons, percent) for percent in FORGET_PERCENTS}
    if counts["10"] >= persons:
        raise UserError(f"option --persons: {persons} people leave nobody to retain")
    order = rng.sample(range(persons), persons)
    forget = {percent: sorted(order[:count]) for percent, count in counts.items()}
    retained = order[counts["10"] :]
    retain_perturbed = sorted(retained[: min(counts["10"], len(retained))])
    holdout = {percent: list(range(count)) for percent, count in counts.items()}
    return PersonSplits(forget, retain_perturbed, holdout)


def holdout_people_needed(persons: int) -> int:
    return forget_count(persons, "10")
