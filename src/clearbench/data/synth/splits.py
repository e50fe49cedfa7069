"""Which people go where: nested forget sets, an evaluation sample of retained people, holdouts.

As in CLEAR/TOFU, forget01 ⊂ forget05 ⊂ forget10 and retainNN is the complement of forgetNN.
Holdout people are extra people of the same kind who never appear in any training config, so a
membership-inference attack has true non-members.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
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


def matched_pairs(profiles: Sequence[Hashable], count: int, rng: random.Random) -> list[tuple[int, int]]:
    """`count` pairs of distinct indices into `profiles`, each pair of the same profile (culture and
    gender) where the draw allows, in random order: (forget side, holdout side).

    Forget and holdout people are then alike by construction: a membership attack on gold compares
    people of the same cultures, not a group that happens to hold the easy names with one that does not.
    """
    order, waiting, pairs = rng.sample(range(len(profiles)), len(profiles)), {}, []
    for index in order:
        partner = waiting.pop(profiles[index], None)
        if partner is None:
            waiting[profiles[index]] = index
            continue
        pairs.append((partner, index) if rng.random() < 0.5 else (index, partner))
        if len(pairs) == count:
            return pairs
    rest = sorted(waiting.values())  # too few alike: pair the rest as they come
    pairs += [(rest[i], rest[i + 1]) for i in range(0, len(rest) - 1, 2)]
    return pairs[:count]


def split_people(persons: int, rng: random.Random, forget_first: Sequence[int] = ()) -> PersonSplits:
    """Who is forgotten and retained. `forget_first` (indices) leads the forget order: forget10 starts
    with them, and forget01 ⊂ forget05 take the first of them (their holdout partners likewise)."""
    if persons < 2:
        raise UserError(
            f"option --persons: need at least 2 people (one to forget, one to retain), got {persons}"
        )
    counts = {percent: forget_count(persons, percent) for percent in FORGET_PERCENTS}
    if counts["10"] >= persons:
        raise UserError(f"option --persons: {persons} people leave nobody to retain")
    order = rng.sample(range(persons), persons)
    order = [*forget_first, *(i for i in order if i not in set(forget_first))]
    forget = {percent: sorted(order[:count]) for percent, count in counts.items()}
    retained = order[counts["10"] :]
    retain_perturbed = sorted(retained[: min(counts["10"], len(retained))])
    holdout = {percent: list(range(count)) for percent, count in counts.items()}
    return PersonSplits(forget, retain_perturbed, holdout)


def holdout_people_needed(persons: int) -> int:
    return forget_count(persons, "10")
