"""Attacks on unlearned models, registered by name like the methods: `ATTACKS[name]` is an `Attack`.

relearn (relearn.py), quantize (quantize.py) and queries (queries.py) each make derived models or
derived inputs; stage.py runs them on every model of a run and scores.py says how much forgotten
knowledge each brought back. A new attack is one file with an `Attack` subclass and one
`register_attack` call here.
"""

from __future__ import annotations

from clearbench.attacks.base import Attack
from clearbench.attacks.image import ImageAttack
from clearbench.attacks.leak import Leak
from clearbench.attacks.probes import Probe
from clearbench.attacks.quantize import Quantize
from clearbench.attacks.queries import Queries
from clearbench.attacks.relearn import Relearn
from clearbench.errors import UserError

ATTACKS: dict[str, Attack] = {}
DEFAULT_ATTACKS = ("relearn", "quantize", "queries")


def register_attack(attack: Attack) -> Attack:
    if attack.name in ATTACKS:
        raise ValueError(f"attack {attack.name!r} is already registered")
    ATTACKS[attack.name] = attack
    return attack


def get_attack(name: str) -> Attack:
    if name not in ATTACKS:
        raise UserError(f"unknown attack {name!r}; available: {', '.join(ATTACKS)}")
    return ATTACKS[name]


for _attack in (Relearn(), Quantize(), Queries(), Leak(), ImageAttack(), Probe()):
    register_attack(_attack)
del _attack
