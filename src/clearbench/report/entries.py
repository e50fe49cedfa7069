"""What the report is built from: one entry per evaluated model, and how its numbers are read."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clearbench.errors import UserError

KINDS = ("base", "target", "gold", "unlearned")
STATUSES = ("completed", "diverged", "failed")
MODALITIES = ("text", "images", "both")


@dataclass
class ReportEntry:
    """One evaluated model: a reference (base / target / gold) or an unlearning run."""

    name: str
    kind: str
    method: str | None = None
    modality: str | None = None
    status: str = "completed"
    error: str | None = None
    metrics: dict | None = None
    train_log: Path | None = None
    group: str | None = None  # the name without seeds: rows of one group are aggregated over seeds
    train_seed: int | None = None
    unlearn_seed: int | None = None
    point: dict | None = None  # the sweep's grid point of this run
    request: str | None = None  # the sequential forget request it answers (None: one-shot)
    job: str | None = None  # the job that made the model (`clearbench jobs`)

    def __post_init__(self) -> None:
        where = f"report entry {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise UserError(f"report entry has an empty name (kind {self.kind!r})")
        if self.kind not in KINDS:
            raise UserError(f"{where}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.status not in STATUSES:
            raise UserError(f"{where}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.modality is not None and self.modality not in MODALITIES:
            raise UserError(f"{where}: modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        if self.metrics is not None and not isinstance(self.metrics, Mapping):
            raise UserError(f"{where}: metrics must be a dict, got {type(self.metrics).__name__}")
        if self.train_log is not None:
            self.train_log = Path(self.train_log)
        if self.group is None:
            self.group = self.name

    @property
    def label(self) -> str:
        """Row label of the modality table: the method, or the name for reference models."""
        return self.method or self.name

    def metric(self, key: str) -> float | None:
        """A top-level number of the metrics, or None when missing, not a number or NaN."""
        return as_number((self.metrics or {}).get(key))

    def task_metric(self, task: str, key: str) -> float | None:
        tasks = (self.metrics or {}).get("tasks")
        if not isinstance(tasks, Mapping) or not isinstance(tasks.get(task), Mapping):
            return None
        return as_number(tasks[task].get(key))

    def task_names(self) -> list[str]:
        tasks = (self.metrics or {}).get("tasks")
        return list(tasks) if isinstance(tasks, Mapping) else []

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["train_log"] = str(self.train_log) if self.train_log else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportEntry:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"report entry {data.get('name')!r}: unknown field(s) {', '.join(unknown)}")
        if "name" not in data or "kind" not in data:
            raise UserError(f"report entry {dict(data)!r} needs at least 'name' and 'kind'")
        return cls(**data)


def as_number(value: Any) -> float | None:
    """`value` as a float, or None for anything that is not a finite-or-infinite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def read_train_log(path: Path | None) -> list[tuple[int, float]]:
    """(step, loss) pairs of a JSONL training log; a missing file gives [].

    A run killed mid-write leaves a truncated last line: it is dropped rather than failing the
    whole report. NaN/inf losses of a diverged run are kept, so the plot can show where it broke.
    A log that is not JSONL at all is a user error.
    """
    if path is None or not Path(path).is_file():
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    points = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # truncated by an interrupted write
                break
            raise UserError(f"training log {path}: line {number} is not JSON") from None
        if not isinstance(record, Mapping):
            raise UserError(f"training log {path}: line {number} is not a JSON object")
        step, loss = as_number(record.get("step")), record.get("loss")
        if step is None or isinstance(loss, bool) or not isinstance(loss, (int, float)):
            continue
        points.append((int(step), float(loss)))
    return points
