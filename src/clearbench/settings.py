"""Settings declared once, as dataclass fields: each field carries its help text and its rule, and the
command-line flags, the checks and the run config's typing are all read from those fields.

    learning_rate: float = setting(1e-5, "peak learning rate of AdamW", POSITIVE, flags=("--lr",))

A nested dataclass field (LoRA's options inside the training options) gives flags with its name as a
prefix (`--lora-r`) and config keys one level down (`finetune.lora.r`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from clearbench.errors import UserError


@dataclass(frozen=True)
class Rule:
    holds: Callable[[Any], bool]
    says: str  # completes "learning_rate ..." in an error message


# Comparisons with NaN are false, so NaN breaks every rule.
POSITIVE = Rule(lambda v: v > 0 and not math.isinf(v), "must be a positive number")
AT_LEAST_ONE = Rule(lambda v: v >= 1, "must be at least 1")
NOT_NEGATIVE = Rule(lambda v: v >= 0 and not math.isinf(v), "must not be negative")
FRACTION = Rule(lambda v: 0 < v <= 1, "must be in (0, 1]")
DROPOUT = Rule(lambda v: 0 <= v < 1, "must be in [0, 1)")
UNIT = Rule(lambda v: 0 <= v <= 1, "must be in [0, 1]")
FINITE = Rule(lambda v: math.isfinite(v), "must be a finite number")
SEED = Rule(lambda v: 0 <= v < 2**32, f"must be between 0 and {2**32 - 1}")


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    rule: Rule | None = None,
    *,
    flags: tuple[str, ...] = (),
    default_factory: Any = dataclasses.MISSING,
):
    """A dataclass field that is a user-facing setting."""
    metadata = {"help": help, "rule": rule, "flags": flags}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def is_setting(field: dataclasses.Field) -> bool:
    return "help" in field.metadata


def check(settings: Any, name: Callable[[str], str], prefix: str = "") -> None:
    """Raise a UserError naming the first setting that breaks its type or rule.

    `name` turns a key (`learning_rate`, `lora.r`) into what the user wrote: a flag or a config key.
    """
    hints = typing.get_type_hints(type(settings))
    for field in dataclasses.fields(settings):
        value, key = getattr(settings, field.name), prefix + field.name
        if dataclasses.is_dataclass(value):
            check(value, name, key + ".")
            continue
        coerce(value, hints[field.name], name(key))
        rule = field.metadata.get("rule")
        if rule is not None and value is not None and not rule.holds(value):
            raise UserError(f"{name(key)} {rule.says}, got {value!r}")
        refuse_nan(value, name(key))  # settings without a rule too


def refuse_nan(value: Any, name: str) -> None:
    """NaN is no setting: every comparison with it is false, so it would silently switch a check off
    (a NaN threshold sets no model apart). Lists and mappings are looked through."""
    if isinstance(value, float) and math.isnan(value):
        raise UserError(f"{name} must be a number, got NaN")
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            refuse_nan(item, _inner(name, f"[{index}]"))
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nan(item, _inner(name, f".{key}"))


def _inner(name: str, suffix: str) -> str:
    """`config key 'a.b'` + `.c` → `config key 'a.b.c'`; a flag gets the suffix appended."""
    return name[:-1] + suffix + "'" if name.endswith("'") else name + suffix


def flag(key: str) -> str:
    """The command-line flag of a setting key: `lora.r` → `--lora-r`."""
    return "--" + key.replace(".", "-").replace("_", "-")


def coerce(value: Any, hint: Any, name: str) -> Any:
    """`value` as the annotated type (int → float, YAML's string `1e-5` → float), or a UserError."""
    kind, optional = _unwrap(hint)
    if value is None:
        if optional or kind is Any:
            return None
        raise UserError(f"{name} must be set (it has no 'none' value)")
    if kind is Any or kind is dict and isinstance(value, dict):
        return value
    if kind is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    elif kind is list and isinstance(value, list):
        item = (typing.get_args(hint_without_none(hint)) or (Any,))[0]
        return [coerce(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
    elif isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise UserError(f"{name} must be {_describe(kind)}, got {value!r}")


def hint_without_none(hint: Any) -> Any:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return args[0] if _is_union(hint) and len(args) == 1 else hint


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the plain type, whether None is allowed) of an annotation such as `list[str] | None`."""
    optional = _is_union(hint) and type(None) in typing.get_args(hint)
    hint = hint_without_none(hint)
    return typing.get_origin(hint) or hint, optional


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _describe(kind: Any) -> str:
    return {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(kind, getattr(kind, "__name__", str(kind)))


# ---- command-line flags ----------------------------------------------------------------------
def add_arguments(parser, defaults: Any, prefix: str = "") -> None:
    """One flag per setting of `defaults` (a dataclass instance, whose values are the defaults)."""
    hints = typing.get_type_hints(type(defaults))
    for field in dataclasses.fields(defaults):
        if not is_setting(field):
            continue
        value, dest = getattr(defaults, field.name), prefix + field.name
        if dataclasses.is_dataclass(value):
            add_arguments(parser, value, dest + "_")
            continue
        kind, _ = _unwrap(hints[field.name])
        flags = [flag(dest), *field.metadata["flags"]]
        shown = ",".join(value) if isinstance(value, list) else value
        help = field.metadata["help"] + ("" if value is None else f" (default: {shown})")
        help = help.replace("%", "%%")  # argparse formats help text with %
        options = {"dest": dest, "default": value, "help": help}
        if kind is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **options)
        elif kind is list:
            item = (typing.get_args(hint_without_none(hints[field.name])) or (str,))[0]
            parser.add_argument(*flags, type=_integers if item is int else _names, metavar="A,B", **options)
        else:
            parser.add_argument(*flags, type=kind, **options)


def from_arguments(defaults: Any, args: argparse.Namespace, prefix: str = "") -> Any:
    """`defaults` with every setting replaced by its parsed flag."""
    values = {}
    for field in dataclasses.fields(defaults):
        if not is_setting(field):
            continue
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(value):
            values[field.name] = from_arguments(value, args, prefix + field.name + "_")
        else:
            values[field.name] = getattr(args, prefix + field.name)
    return dataclasses.replace(defaults, **values)


def narrow(settings: Any, cls: type) -> Any:
    """The `cls` part of `settings` (e.g. the training options of a run-config section)."""
    return cls(**{field.name: getattr(settings, field.name) for field in dataclasses.fields(cls)})


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _integers(text: str) -> list[int]:
    try:
        return [int(name) for name in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Settings of `cls` rebuilt from their `dataclasses.asdict` form (nested settings included)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in data:
            value = data[field.name]
            if dataclasses.is_dataclass(hints[field.name]) and isinstance(value, dict):
                value = from_dict(hints[field.name], value)
            values[field.name] = value
    return cls(**values)
