"""The official shadow-model design (CLEAR `cv/`, clear_spec §5).

Two groups of people of the same size, F (the source's forget set) and H (holdout people). In the
first half of the splits a model is trained on F ∪ `others` random retained people and then asked
to forget F; in the second half the roles swap (trained on H ∪ others, asked to forget H). So every
image of F or H is, for half the splits, "trained on and unlearned" (in) and, for the other half,
"never seen" (out). Within each half, the first quarter of all splits are the attacked (target)
models and the second quarter are shadow models the attacks are fitted on:

    splits [0, n/4)      target, member group F      [n/4, n/2)   shadow, member group F
    splits [n/2, 3n/4)   target, member group H      [3n/4, n)    shadow, member group H

The paper runs n = 128 (its text says 256 models); the CPU default 16.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clearbench.errors import UserError


@dataclass(frozen=True)
class Split:
    index: int
    member_group: str  # "forget" (F) or "holdout" (H): the group trained on, then unlearned
    forget: list[str]  # the people this split's model is asked to forget (its member group)
    unseen: list[str]  # the other group: never trained on
    retain: list[str]  # the random others trained on and kept
    target: bool  # attacked (True) or shadow (False)

    @property
    def trained(self) -> list[str]:
        return self.forget + self.retain


def plan_splits(
    forget: list[str], holdout: list[str], others: list[str], count: int, retain_size: int, seed: int
) -> list[Split]:
    """`count` splits (a multiple of 4), each retaining `retain_size` people drawn from `others`."""
    if count < 4 or count % 4:
        raise UserError(f"config key 'splits.count': must be a multiple of 4 (at least 4), got {count}")
    if not forget or not holdout:
        raise UserError("the visual track needs people to forget and holdout people; found none")
    if len(forget) != len(holdout):
        raise UserError(
            f"forget ({len(forget)}) and holdout ({len(holdout)}) groups differ in size; "
            "the shadow design swaps their roles"
        )
    overlap = sorted(set(forget) & set(holdout))
    if overlap:
        raise UserError(f"people in both the forget and the holdout group: {', '.join(overlap)}")
    pool = [name for name in others if name not in set(forget) | set(holdout)]
    if retain_size > len(pool):
        raise UserError(
            f"config key 'splits.retain_people': {retain_size} retained people per split asked, "
            f"but only {len(pool)} people are neither forgotten nor held out"
        )
    if retain_size < 2:
        raise UserError(f"config key 'splits.retain_people': at least 2, got {retain_size}")
    rng = random.Random(f"clearbench-visual-splits:{seed}")
    splits = []
    for index in range(count):
        first_half = index < count // 2
        members, unseen = (forget, holdout) if first_half else (holdout, forget)
        retain = sorted(rng.sample(pool, retain_size))
        target = (index % (count // 2)) < count // 4
        splits.append(
            Split(index, "forget" if first_half else "holdout", list(members), list(unseen), retain, target)
        )
    return splits
