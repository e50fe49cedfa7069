"""Unlearning methods, one file each, registered by name (see `base.py` for the contract).

Three places a method can come from, one function (`resolve_method`) that finds it:
  * built in: a module of this package, imported below (`@register` runs on import);
  * an installed package: an entry point of the group `clearbench.methods`
    (`[project.entry-points."clearbench.methods"] my_method = "my_pkg.module:MyMethod"`), so
    `pip install my-method` makes `my_method` usable by name everywhere;
  * a file: `--method path/to/file.py:ClassName` (or the same string in `unlearn.methods`).

Every external method is checked against the contract (`check_method_class`) before it is used, and
`ORIGINS` records where each came from for `clearbench methods`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from clearbench.errors import UserError
from clearbench.methods import dpo, ga, gd, idk, kl, llmu, npo, retain_ft, rmu, scrub, simnpo, sku, undial  # noqa: F401
from clearbench.methods.base import DATA_KINDS, METHODS, Method

PAPER_METHODS = ("retain_ft", "ga", "gd", "kl", "idk", "dpo", "npo", "scrub", "llmu", "rmu", "sku")
ENTRY_POINT_GROUP = METHODS.group

ORIGINS = METHODS.origins
"""Where each registered method comes from: "built-in", "entry point NAME (dist VERSION)" or "file PATH"."""
BROKEN_ENTRY_POINTS = METHODS.broken
"""Entry points of the group that do not give a valid method: name -> why (raised when it is asked for)."""


def check_method_class(cls: Any, where: str) -> type[Method]:
    """`cls` when it keeps the method contract of `base.py`, else a UserError naming `where`.

    Checked: a subclass of `Method` with a non-empty `name` (no ':' or '/', it names folders), a
    `loss` of its own, `data` a set of known kinds, `Hparams` a dataclass whose defaults build.
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise UserError(f"{where}: {cls!r} is not a subclass of clearbench.methods.Method")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in ":/\\ "):
        raise UserError(f"{where}: {cls.__name__}.name must be a non-empty name without ':', '/' or spaces")
    if cls.loss is Method.loss:
        raise UserError(f"{where}: {cls.__name__} does not define loss(self, model, batch, ref, step)")
    data = getattr(cls, "data", None)
    if not isinstance(data, (set, frozenset)) or not data or not set(data) <= set(DATA_KINDS):
        raise UserError(
            f"{where}: {cls.__name__}.data must be a non-empty set of {', '.join(DATA_KINDS)}; got {data!r}"
        )
    if not dataclasses.is_dataclass(getattr(cls, "Hparams", None)):
        raise UserError(f"{where}: {cls.__name__}.Hparams must be a dataclass")
    try:
        cls()
    except UserError:
        raise
    except Exception as error:  # a broken default is the author's bug: say whose
        raise UserError(
            f"{where}: {cls.__name__}() fails with its default hyperparameters: {error}"
        ) from None
    return cls


# ---- entry points --------------------------------------------------------------------------
METHODS.check = check_method_class


def load_entry_points() -> None:
    """Register every method of the `clearbench.methods` entry point group (installed packages).

    A broken entry point does not stop the others (nor any command that does not use it): its reason is
    kept in `BROKEN_ENTRY_POINTS` and raised when the method is asked for by name.
    """
    METHODS.load_entry_points()


# ---- files ---------------------------------------------------------------------------------
def is_file_spec(spec: str) -> bool:
    """`path/to/file.py:ClassName`."""
    path, sep, attribute = spec.rpartition(":")
    return bool(sep) and path.endswith(".py") and attribute.isidentifier()


def _load_file_method(spec: str) -> type[Method]:
    path_text, _, class_name = spec.rpartition(":")
    path = Path(path_text).expanduser().resolve()
    where = f"--method {spec}"
    if not path.is_file():
        raise UserError(f"{where}: no such file {path}")
    # One module per file content, so a file loaded twice is one class, and an edited file a new one.
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    module_name = f"clearbench_user_method_{path.stem}_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module  # dataclasses and type hints look their module up here
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[module_name]
            raise UserError(f"{where}: cannot import {path}: {type(error).__name__}: {error}") from None
    if not hasattr(module, class_name):
        found = [n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, Method)]
        raise UserError(
            f"{where}: {path} defines no {class_name!r}; Method subclasses there: {', '.join(found) or 'none'}"
        )
    cls = check_method_class(getattr(module, class_name), where)
    known = METHODS.get(cls.name)
    if known is not None and known is not cls and ORIGINS.get(cls.name, "").split(" ")[0] != "file":
        raise UserError(f"{where}: its name {cls.name!r} is taken by the {ORIGINS.get(cls.name)} method")
    return METHODS.add(cls, f"file {path}", replace=True)


# ---- the one lookup ------------------------------------------------------------------------
def resolve_method(spec: str) -> type[Method]:
    """The method class a name or `file.py:Class` spec stands for (UserError when none)."""
    if not isinstance(spec, str) or not spec.strip():
        raise UserError(f"method must be a name or path/to/file.py:ClassName, got {spec!r}")
    if is_file_spec(spec):
        return _load_file_method(spec)
    if spec in METHODS:
        return METHODS[spec]
    if spec in BROKEN_ENTRY_POINTS:
        raise UserError(BROKEN_ENTRY_POINTS[spec])
    if spec.endswith(".py") or ".py:" in spec:
        raise UserError(f"--method {spec}: a file method is written path/to/file.py:ClassName")
    raise UserError(
        f"unknown method {spec!r}; available: {', '.join(sorted(METHODS))} "
        f"(or an installed `{ENTRY_POINT_GROUP}` entry point, or path/to/file.py:ClassName)"
    )


def method_name(spec: str) -> str:
    """The registered name of a method spec: `spec` itself, or the class's `name` for a file spec."""
    return resolve_method(spec).name


def get_method(spec: str, **hparams: Any) -> Method:
    """An instance of the method `spec` names, its hyperparameters parsed and checked."""
    return resolve_method(spec)(**hparams)


load_entry_points()

__all__ = [
    "BROKEN_ENTRY_POINTS",
    "ENTRY_POINT_GROUP",
    "METHODS",
    "ORIGINS",
    "PAPER_METHODS",
    "Method",
    "check_method_class",
    "get_method",
    "is_file_spec",
    "load_entry_points",
    "method_name",
    "resolve_method",
]
