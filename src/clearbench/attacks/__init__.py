"""Attacks on unlearned models, registered by name like the methods: `ATTACKS[name]` is an `Attack`.

relearn (relearn.py), quantize (quantize.py) and queries (queries.py) each make derived models or
derived inputs; stage.py runs them on every model of a run and scores.py says how much forgotten
knowledge each brought back. A new attack is one file with an `Attack` subclass and its instance
in ATTACKS's built-in list here, or an installed package's `clearbench.attacks` entry point.
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
from clearbench.registry import Registry

DEFAULT_ATTACKS = ("relearn", "quantize", "queries")


def checked_attack(obj, where: str) -> Attack:
    """An `Attack` instance, from itself or its class; a UserError naming `where` otherwise."""
    attack = obj() if isinstance(obj, type) and issubclass(obj, Attack) else obj
    if not isinstance(attack, Attack):
        raise UserError(f"{where}: not an Attack (clearbench.attacks.base.Attack, a subclass or an instance)")
    return attack


ATTACKS: Registry[Attack] = Registry(
    "attack",
    "clearbench.attacks",
    check=checked_attack,
    built_in=(Relearn(), Quantize(), Queries(), Leak(), ImageAttack(), Probe()),
)


def register_attack(attack: Attack) -> Attack:
    """Add `attack` to ATTACKS (a taken name is a DuplicateError)."""
    return ATTACKS.add(checked_attack(attack, f"attack {getattr(attack, 'name', attack)!r}"))


def get_attack(name: str) -> Attack:
    return ATTACKS.find(name)


ATTACKS.load_entry_points()
