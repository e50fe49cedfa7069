"""Helpers of the hostile suite: breaking a source's files, a dead process id, stand-in stages."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset

from clearbench.data.schema import SCHEMAS
from clearbench.data.synth.writer import parquet_path


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def error(self) -> str:
        """The one error line (asserted to be exactly one)."""
        lines = [line for line in self.err.splitlines() if line.startswith("clearbench: error:")]
        assert len(lines) == 1, self.err[-3000:]
        return lines[0]


def read_table(source: Path, config: str) -> dict[str, list]:
    return pq.read_table(source / parquet_path(config)).to_pydict()


def write_table(source: Path, config: str, table: dict[str, list]) -> None:
    """Rewrite one config's parquet file as given (images written as stored, never re-embedded)."""
    features = SCHEMAS[config].features
    arrow = Dataset.from_dict(table, features=features).data.table
    pq.write_table(arrow, source / parquet_path(config))


def set_value(source: Path, config: str, column: str, row: int, value) -> None:
    table = read_table(source, config)
    table[column][row] = value
    write_table(source, config, table)


def dead_pid() -> int:
    """The id of a process that has just ended (so temporaries named after it are leftovers)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- a pipeline whose stages are stand-ins --------------------------------------------------------


class FakeStages:
    """Replace training, evaluation, metrics and the report by small writers; `fail` makes a stage
    raise. Every stage still goes through the pipeline's own code around it."""

    def __init__(self, monkeypatch):
        # Imported before the patches: a module importing read_eval by name while they hold would keep
        # the stand-in after them (`clearbench metrics` then read {"path": …} in a later test).
        import clearbench.commands.metrics  # noqa: F401
        import clearbench.evaluate.logs as logs
        import clearbench.evaluate.metrics as metrics
        import clearbench.evaluate.runner as runner
        import clearbench.report as report
        import clearbench.train.finetune as finetune
        import clearbench.train.unlearn as unlearn

        self.fail: dict[str, BaseException] = {}
        self.calls: list[str] = []
        monkeypatch.setattr(finetune, "finetune", self.finetune)
        monkeypatch.setattr(unlearn, "unlearn", self.unlearn)
        monkeypatch.setattr(runner, "evaluate_model", self.evaluate)
        monkeypatch.setattr(logs, "read_eval", lambda path, fmt=None: {"path": str(path)})
        monkeypatch.setattr(metrics, "compute_metrics", self.metrics)
        monkeypatch.setattr(report, "build_report", self.report)

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def finetune(self, model, data, split, out, options=None, **settings):
        self._maybe_fail(f"finetune:{job_name(out)}")
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "config.json").write_text("{}")
        return Path(out)

    def unlearn(self, model, data, forget, retain, method, out, options=None, **settings):
        self._maybe_fail(f"unlearn:{method}")
        Path(out).mkdir(parents=True, exist_ok=True)
        return {"status": "completed"}

    def evaluate(self, model_path, data, forget_split, out_dir, **settings):
        self._maybe_fail(f"eval:{job_name(out_dir).removeprefix('eval ')}")
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "summary.json").write_text("{}")
        return Path(out_dir)

    def metrics(self, candidate, gold=None, compat="clearbench", reference=None):
        self._maybe_fail(f"metrics:{job_name(candidate['path']).removeprefix('eval ')}")
        return {"forget_quality": 0.5}

    def report(self, entries, out_dir, **settings):
        self._maybe_fail("report")
        from clearbench import atomic

        # As the real report: report.html removed first and written last.
        (Path(out_dir) / "report.html").unlink(missing_ok=True)
        atomic.write_text(Path(out_dir) / "leaderboard.md", "| model |")
        atomic.write_text(Path(out_dir) / "report.html", "<html>complete</html>")
        return Path(out_dir) / "report.html"


def job_name(output: str | Path) -> str:
    """The name of the job whose output folder this is (its job.json, written before it runs)."""
    return json.loads((Path(output).parent / "job.json").read_text())["name"]


def done_jobs(run_dir: Path) -> set[str]:
    from clearbench.jobs import job_states

    return {job["name"] for job in job_states(run_dir) if job["state"] == "done"}


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")) if root.exists() else []


def read_json(path: Path):
    return json.loads(path.read_text())
