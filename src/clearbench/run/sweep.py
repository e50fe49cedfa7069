"""Sweeps: a grid of settings per method, each point one more unlearning run.

    unlearn:
      grid:
        npo: {learning_rate: [1.0e-4, 3.0e-4], beta: [0.1, 0.5]}   # 4 points

A grid key is a training setting of the `unlearn` section (learning_rate, epochs, …) or one of the
method's own hyperparameters; the points are every combination, in the keys' order. Which point the
leaderboard reports is the selection rule's choice (`clearbench.report.selection`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import typing
from typing import Any

from clearbench import settings
from clearbench.errors import UserError


def points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values; one empty point without a grid."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def label(point: dict[str, Any]) -> str:
    """`npo[beta=0.5,learning_rate=0.0001]`'s bracket part; empty for the empty point."""
    return "[" + ",".join(f"{key}={value}" for key, value in point.items()) + "]" if point else ""


def apply(section, method: str, point: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The `unlearn` section with the method's own training settings, and its hyperparameters: those
    of `unlearn.hparams.<method>` (which may set training settings too, e.g. the tiny preset's RMU
    learning rate), then the point's."""
    options, hparams = _split(section, method, section.hparams.get(method, {}), "hparams")
    point_options, point_hparams = _split(section, method, point, "grid")
    return dataclasses.replace(section, **(options | point_options)), hparams | point_hparams


def _split(section, method: str, values: dict[str, Any], where: str) -> tuple[dict, dict]:
    """(training settings coerced to their types, the method's hyperparameters) of `values`; a key of
    the run itself (methods, grid, …) is refused."""
    from clearbench.train.options import UnlearnOptions

    if not isinstance(values, dict):
        raise UserError(f"{_key(method, None, where)} must map settings to values, got {values!r}")
    _refuse_run_keys(section, method, values, where)
    hints = typing.get_type_hints(type(section))
    training = {field.name for field in dataclasses.fields(UnlearnOptions)}
    options = {
        k: settings.coerce(v, hints[k], _key(method, k, where)) for k, v in values.items() if k in training
    }
    return options, {k: v for k, v in values.items() if k not in training}


def _refuse_run_keys(section, method: str, keys, where: str) -> None:
    """A grid or a method's entry sets training settings and the method's hyperparameters only."""
    from clearbench.train.options import UnlearnOptions

    training = {field.name for field in dataclasses.fields(UnlearnOptions)}
    run_keys = {field.name for field in dataclasses.fields(section)} - training
    for key in keys:
        if key in run_keys:
            verb = "a grid sweeps" if where == "grid" else "a method's entry sets"
            raise UserError(
                f"{_key(method, key, where)}: {verb} training settings and {method}'s hyperparameters, "
                f"not {key!r} (set it in the unlearn section)"
            )


# More points than this (summed over the methods' grids) start only with `clearbench run --yes`.
GRID_LIMIT = 100


def check(section) -> None:
    """The methods are listed once; every grid names a method of the run and lists distinct values of
    training settings or the method's hyperparameters (nothing else), and each point is a valid run.
    A repeated method or point would train twice and clash in the report."""
    from clearbench.methods import get_method

    repeated = sorted({method for method in section.methods if section.methods.count(method) > 1})
    if repeated:
        raise UserError(f"config key 'unlearn.methods' lists {', '.join(repeated)} more than once")
    for method, grid in section.grid.items():
        where = _key(method)
        if method not in section.methods:
            raise UserError(f"{where}: {method!r} is not in unlearn.methods")
        if not isinstance(grid, dict) or not grid:
            raise UserError(
                f"{where} must map settings to lists of values, e.g. {{learning_rate: [1e-5, 3e-5]}}"
            )
        _refuse_run_keys(section, method, grid, "grid")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise UserError(f"{_key(method, key)} must be a non-empty list of values, got {values!r}")
            seen = [repr(value) for value in values]
            twice = next((value for value, shown in zip(values, seen) if seen.count(shown) > 1), None)
            if twice is not None:
                raise UserError(
                    f"{_key(method, key)} repeats the value {twice!r}: its points would train twice"
                )
        for point in points(grid):
            try:
                options, hparams = apply(section, method, point)
                settings.check(options, lambda key, method=method: _key(method, key))
                get_method(method, **hparams)
            except UserError as error:
                raise UserError(f"{where}, point {label(point)}: {error}") from None


def size(section) -> int:
    """How many points the grids hold, over all methods (each one more unlearning run per seed)."""
    return sum(math.prod(len(values) for values in grid.values()) for grid in section.grid.values())


def check_size(section, confirmed: bool) -> None:
    """A grid larger than `GRID_LIMIT` points is refused unless confirmed (`clearbench run --yes`):
    a typo (a list of 100 values) should not start days of training."""
    points_count = size(section)
    if points_count > GRID_LIMIT and not confirmed:
        raise UserError(
            f"config key 'unlearn.grid' holds {points_count} points (more than {GRID_LIMIT}), each one "
            "unlearning run per seed; pass --yes to run them all"
        )


def _key(method: str, key: str | None = None, where: str = "grid") -> str:
    return f"config key 'unlearn.{where}.{method}{'.' + key if key else ''}'"
