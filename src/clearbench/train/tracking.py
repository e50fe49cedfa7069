"""Reporting training curves and final metrics to TensorBoard, Weights & Biases or MLflow.

Through accelerate's tracker integration: each training stage's `run_loop` opens one tracker run
per chosen tracker (`Accelerator.init_trackers`, its settings as the run's configuration), logs every
optimizer step's record (`Accelerator.log`: loss, learning rate, the method's named values) and
finishes the runs when the loop ends. `log_final_metrics` adds one run per evaluated model holding its
metrics. TensorBoard writes event files offline with no account; W&B and MLflow are used only when
installed, and none is required.

Which trackers are on is said once, around the work (a command, or a whole `clearbench run`):

    with reporting(["tensorboard"], out / "tracking"):
        finetune(...)                       # curves under out/tracking/<stage>/

`stage(name)` names the runs of the stages inside it (default: the loop's label, e.g.
"finetune full+tofu"). A tracker that is not installed is a UserError when `reporting` starts,
before any training.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearbench.errors import UserError

TRACKERS = ("tensorboard", "wandb", "mlflow")
PROJECT = "clearbench"  # the W&B project and MLflow experiment every run goes to
INSTALL = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


@dataclass(frozen=True)
class Reporting:
    trackers: tuple[str, ...]
    logging_dir: Path
    project: str = PROJECT


_ACTIVE: ContextVar[Reporting | None] = ContextVar("clearbench_reporting", default=None)
_STAGE: ContextVar[str | None] = ContextVar("clearbench_stage", default=None)


def _available(tracker: str) -> bool:
    from accelerate.utils import is_mlflow_available, is_tensorboard_available, is_wandb_available

    return {
        "tensorboard": is_tensorboard_available,
        "wandb": is_wandb_available,
        "mlflow": is_mlflow_available,
    }[tracker]()


def check_trackers(
    report_to: list[str] | tuple[str, ...] | None, where: str = "--report-to"
) -> tuple[str, ...]:
    """The trackers named, each known and installed, else a UserError naming `where` (a flag or key)."""
    names: list[str] = []
    for tracker in report_to or ():
        if tracker in ("none", ""):
            continue
        if tracker not in TRACKERS:
            raise UserError(f"{where}: unknown tracker {tracker!r}; choose from {', '.join(TRACKERS)}")
        if not _available(tracker):
            raise UserError(
                f"{where}: {tracker} is not installed (pip install {INSTALL[tracker]}); "
                "tensorboard works offline with no account"
            )
        if tracker not in names:
            names.append(tracker)
    return tuple(names)


@contextmanager
def reporting(
    report_to: list[str] | tuple[str, ...] | None,
    logging_dir: str | Path,
    *,
    project: str = PROJECT,
    where: str = "--report-to",
) -> Iterator[Reporting | None]:
    """Report every training stage run inside to `report_to` (checked first: see `check_trackers`)."""
    trackers = check_trackers(report_to, where)
    token = _ACTIVE.set(Reporting(trackers, Path(logging_dir), project) if trackers else None)
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Name the tracker runs of the training inside (e.g. "target", "gold", "unlearn npo both")."""
    token = _STAGE.set(name)
    try:
        yield
    finally:
        _STAGE.reset(token)


def named(label: str) -> str:
    """A progress bar's name: the model being made or evaluated (the current stage: target, gold,
    eval npo) before `label`, so bars of a run say whose they are."""
    stage_name = _STAGE.get()
    return f"{stage_name}: {label}" if stage_name else label


def active() -> Reporting | None:
    return _ACTIVE.get()


def folder_name(text: str) -> str:
    """`text` as a run name that is also a folder name."""
    return re.sub(r"[^A-Za-z0-9_.+=-]+", "_", text).strip("_") or "train"


def run_name(label: str) -> str:
    """The current stage's name (see `stage`), else the loop's label."""
    return folder_name(_STAGE.get() or label)


def _make_trackers(settings: Reporting, name: str) -> list:
    from accelerate.tracking import MLflowTracker, TensorBoardTracker, WandBTracker

    made = []
    for tracker in settings.trackers:
        if tracker == "tensorboard":
            made.append(TensorBoardTracker(name, settings.logging_dir))
        elif tracker == "wandb":  # accelerate's run name is W&B's project: the stage goes in `name`
            made.append(WandBTracker(settings.project, name=name, dir=str(settings.logging_dir)))
        else:
            made.append(MLflowTracker(settings.project, str(settings.logging_dir), run_name=name))
    return made


def hyperparameters(values: Mapping[str, Any], prefix: str = "") -> dict[str, int | float | str | bool]:
    """`values` flattened (`lora.r`) to the scalar types every tracker stores; None becomes "none"."""
    flat: dict[str, int | float | str | bool] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(hyperparameters(value, f"{prefix}{key}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[prefix + key] = value
        else:
            flat[prefix + key] = "none" if value is None else str(value)
    return flat


def open_runs(accelerator, label: str, settings: Mapping[str, Any]) -> bool:
    """Start this stage's tracker runs on `accelerator` (main process only); False when not reporting."""
    active_settings = _ACTIVE.get()
    if active_settings is None:
        return False
    active_settings.logging_dir.mkdir(parents=True, exist_ok=True)
    accelerator.log_with = _make_trackers(active_settings, run_name(label))
    accelerator.init_trackers(active_settings.project, config=hyperparameters(settings))
    return True


def log_step(accelerator, record: Mapping[str, Any]) -> None:
    """One optimizer step's record (from the loop's train_log.jsonl line) as `train/<key>` scalars."""
    values = {
        f"train/{key}": float(value)
        for key, value in record.items()
        if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    accelerator.log(values, step=int(record["step"]))


def close_runs(accelerator) -> None:
    """Finish the stage's tracker runs. Not `end_training`: it also destroys the process group, which
    the checkpoint gather after the loop still needs."""
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers = []


def numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (nested) metrics record, keyed `section/name`."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            flat.update(numeric_metrics(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[prefix + str(key)] = float(value)
    return flat


def log_final_metrics(
    model_name: str, metrics: Mapping[str, Any], *, settings: Reporting | None = None
) -> bool:
    """Report one evaluated model's final metrics, as one tracker run named `metrics-<model_name>` with
    every finite number of `metrics` as `metrics/<key>` at step 0. Uses the active `reporting(...)`
    unless `settings` is given; returns False when nothing is reported."""
    settings = settings or _ACTIVE.get()
    if settings is None:
        return False
    from accelerate import PartialState

    PartialState()  # the trackers log from the main process only; a plain call is one process
    settings.logging_dir.mkdir(parents=True, exist_ok=True)
    values = {f"metrics/{key}": value for key, value in numeric_metrics(metrics).items()}
    for tracker in _make_trackers(settings, folder_name(f"metrics-{model_name}")):
        tracker.start()
        tracker.log(values, step=0)
        tracker.finish()
    return True
