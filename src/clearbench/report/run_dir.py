"""The report of a `clearbench run` directory, rebuilt from what the run saved.

`runs.json` lists the evaluated models (name, kind, method, modality, status, reason, training log)
and `metrics/NAME.json` holds each one's metrics, so the report can be written again without a model,
e.g. after changing the retain-failure line.
"""

from __future__ import annotations

from pathlib import Path

from clearbench import atomic, files
from clearbench.errors import UserError
from clearbench.report.entries import ReportEntry

RUNS = "runs.json"


def write_runs(run_dir: Path, entries: list[ReportEntry]) -> None:
    """Record the evaluated models, without their metrics (those stay in metrics/)."""
    records = []
    for entry in entries:
        record = entry.to_dict() | {"metrics": None}
        if entry.train_log is not None:
            record["train_log"] = str(Path(entry.train_log).relative_to(run_dir))
        records.append(record)
    atomic.write_json(Path(run_dir) / RUNS, records)


def read_entries(run_dir: Path) -> list[ReportEntry]:
    """The run's report entries with their metrics; a completed model without metrics is failed."""
    run_dir = Path(run_dir)
    path = run_dir / RUNS
    if not path.is_file():
        raise UserError(f"{run_dir}: no {RUNS}; is this a finished `clearbench run` directory?")
    records = files.read_json(files.require_inside(run_dir, path))
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise UserError(f"{path}: expected a list of JSON objects (one per evaluated model)")
    entries = []
    for index, record in enumerate(records):
        try:
            entry = ReportEntry.from_dict(record)
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{path}: entry {index} is not a model record: {error!r}") from None
        metrics_file = run_dir / "metrics" / f"{entry.name}.json"
        entry.metrics = (
            files.read_json_object(files.require_inside(run_dir, metrics_file))
            if metrics_file.is_file()
            else None
        )
        if entry.status == "completed" and entry.metrics is None:
            entry.status, entry.error = "failed", "no evaluation"
        if entry.train_log is not None:
            log = run_dir / entry.train_log
            # a log outside the run (an absolute path, `..`, a link) is not read: the run's own only
            entry.train_log = log if log.exists() and files.inside(run_dir, log) else None
        entries.append(entry)
    return entries


def read_attacks(run_dir: Path) -> list[dict] | None:
    """The run's attack records (`attacks/records.json`), or None when no attack ran."""
    from clearbench.report.robustness import read_records

    return read_records(run_dir) if (Path(run_dir) / "attacks" / "records.json").is_file() else None
