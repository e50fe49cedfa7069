"""A job: one unit of work (train a model, unlearn one point of one method for one seed, evaluate a
model), described by its kind and its spec, and kept in a folder named by a hash of both.

The spec holds every input and setting the output depends on; a job it reads is named in it as
`{"job": KEY}`. So the same work asked twice — by a re-run, a retry, another sweep that shares a
point — is the same folder, and a finished job is never redone. Its folder `RUN/jobs/KEY/` holds:

    job.json     kind, name, spec (written when the job is planned)
    output/      the job's product: a checkpoint, or an eval directory
    state.json   running (host, process, since) · done (the job's result) · failed (the reason);
                 absent: pending. Written atomically, so a killed job is never "done".
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearbench import atomic

JOBS = "jobs"
STATES = ("pending", "running", "interrupted", "done", "failed")


@dataclass
class Job:
    kind: str  # finetune | unlearn | evaluate (clearbench.jobs.work.KINDS)
    name: str  # what the report and `clearbench jobs` call it, e.g. "target", "eval npo"
    spec: dict[str, Any]  # JSON values only; other jobs as {"job": KEY}
    cpus: float = 1  # what the job asks of a Ray worker
    gpus: float = 0
    key: str = field(init=False)

    def __post_init__(self) -> None:
        text = json.dumps({"kind": self.kind, "spec": self.spec}, sort_keys=True, allow_nan=False)
        self.key = f"{self.kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    @property
    def needs(self) -> list[str]:
        """Keys of the jobs whose output this one reads."""
        return list(dict.fromkeys(_job_refs(self.spec)))

    def folder(self, root: Path) -> Path:
        return Path(root) / JOBS / self.key

    def output(self, root: Path) -> Path:
        return output(root, self.key)

    def record(self, root: Path) -> None:
        path = self.folder(root) / "job.json"
        if not path.exists():
            atomic.write_json(path, {"kind": self.kind, "name": self.name, "spec": self.spec})


def output(root: Path, key: str) -> Path:
    return Path(root) / JOBS / key / "output"


def resolve(value: Any, root: Path) -> Any:
    """A spec value with each `{"job": KEY}` replaced by that job's output path (`{"job": KEY,
    "path": P}`: the path P inside it, e.g. one epoch's snapshot)."""
    if isinstance(value, dict):
        if _is_ref(value):
            return str(output(root, value["job"]) / value.get("path", ""))
        return {k: resolve(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, root) for v in value]
    return value


def _is_ref(value: dict) -> bool:
    return set(value) in ({"job"}, {"job", "path"})


def _job_refs(value: Any):
    if isinstance(value, dict):
        if _is_ref(value):
            yield value["job"]
            return
        for item in value.values():
            yield from _job_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _job_refs(item)


# ---- state ------------------------------------------------------------------------------------
def read_state(root: Path, key: str) -> dict[str, Any]:
    """The job's state record; a running job whose process is gone on this host is `interrupted`."""
    path = Path(root) / JOBS / key / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"state": "pending"}
    except (OSError, ValueError):
        return {"state": "pending", "reason": f"{path} cannot be read"}
    if state.get("state") == "running" and state.get("host") == socket.gethostname():
        if not atomic.process_alive(state.get("pid", -1)):
            state["state"] = "interrupted"
    return state


def mark(root: Path, key: str, state: str, **fields: Any) -> None:
    record = {"state": state, "host": socket.gethostname(), "pid": os.getpid(), "time": _now(), **fields}
    atomic.write_json(Path(root) / JOBS / key / "state.json", record)


def job_states(root: Path) -> list[dict[str, Any]]:
    """Every job planned in a run folder: key, kind, name and state record, in planning order."""
    folder = Path(root) / JOBS
    jobs = []
    for path in (
        sorted(folder.glob("*/job.json"), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    ):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {"kind": "?", "name": "?"}
        key = path.parent.name
        jobs.append(
            {"key": key, "kind": record.get("kind"), "name": record.get("name"), **read_state(root, key)}
        )
    return jobs


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---- changed code or settings -----------------------------------------------------------------
def changed(planned: list[Job], root: Path) -> dict[str, str]:
    """Planned jobs not done whose namesake in the folder is done under another key: made by other
    code or settings (a library upgraded, a method's file edited, another thread count). Key → why."""
    earlier: dict[tuple, dict] = {}
    for record in job_states(root):
        if record["state"] == "done":
            earlier[(record["kind"], record["name"])] = record
    reasons = {}
    for job in planned:
        before = earlier.get((job.kind, job.name))
        if before is None or before["key"] == job.key or read_state(root, job.key)["state"] == "done":
            continue
        spec = _spec(root, before["key"])
        reasons[job.key] = "; ".join(dict.fromkeys(differences(spec, job.spec))) or "another job spec"
    return reasons


def _spec(root: Path, key: str) -> dict:
    try:
        return json.loads((Path(root) / JOBS / key / "job.json").read_text(encoding="utf-8"))["spec"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def differences(before: Any, now: Any, path: str = "") -> list[str]:
    """What changed between two specs, in words: `torch 2.12.0 → 2.13.0`, `my.py edited`."""
    if before == now:
        return []
    if isinstance(before, dict) and isinstance(now, dict):
        if _is_ref(before) and _is_ref(now):
            return ["an input job is redone"]
        if path == "method_code" and before.get("file") is not None:
            return [f"{now.get('file')} edited"]
        found: list[str] = []
        for key in sorted(set(before) | set(now), key=str):
            found += differences(before.get(key), now.get(key), f"{path}.{key}" if path else key)
        return found
    name = path.removeprefix("software.")
    return [f"{name} {_shown(before)} → {_shown(now)}"]


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)
