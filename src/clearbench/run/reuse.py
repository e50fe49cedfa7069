"""Reference artefacts: take the base, target and gold models of an earlier run, and their eval logs,
instead of training them again.

A run keeps each unit of work in `jobs/KEY/` (KEY a hash of the job's kind and spec, so the same work
has the same key in any run) and lists its evaluated models, with their job keys, in `runs.json`
(`clearbench.report.run_dir.read_entries`). Adopting copies the reference models' job folders, and
those of their evaluations, into the new run (hard links where the file system allows: no extra
space), so the new run finds them done. It is allowed only when what made them is the same: the data
revision, and the config's `data`, `model`, `pretrain`, `finetune`, `forget_split`, `requests` and
training seeds; anything else is a UserError naming the keys that differ. Eval logs are adopted when
the `eval` section matches too; otherwise the models are, and they are evaluated again.

An earlier run is a run folder, a folder written by `clearbench export` (the same layout, reduced to
the reference models), or, online, a Hugging Face Hub repository holding such an export.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clearbench import files
from clearbench.errors import UserError

REFERENCE_KINDS = ("base", "target", "gold")
# Config keys whose values made the reference models (dotted: one key of a section).
TRAINING_KEYS = ("data", "model", "pretrain", "finetune", "forget_split", "requests", "seeds.train")
EVAL_KEYS = ("eval",)


@dataclass
class ReferenceJob:
    name: str  # the model's name in the run ("target", "gold", "gold~t1", …)
    kind: str  # base | target | gold
    key: str  # its training job
    eval_key: str | None  # its evaluation job, if it was evaluated


def read_run(run_dir: Path) -> tuple[dict, dict]:
    """(resolved config, run.json) of a finished run or export folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"--reuse {run_dir}: no such folder")
    for name in ("config.yaml", "run.json"):
        if not (run_dir / name).exists():
            raise UserError(f"--reuse {run_dir}: no {name}; is it a `clearbench run` folder?")
        files.require_inside(run_dir, run_dir / name, "--reuse")
    try:
        config = yaml.safe_load(files.read_bytes(run_dir / "config.yaml", files.MAX_JSON_BYTES, "--reuse"))
    except yaml.YAMLError as error:
        raise UserError(f"--reuse {run_dir}: cannot read the run's record: {error}") from None
    record = files.read_json(run_dir / "run.json", "--reuse")
    if not isinstance(config, dict) or not isinstance(record, dict):
        raise UserError(f"--reuse {run_dir}: config.yaml / run.json are not a clearbench run's")
    return config, record


def reference_jobs(run_dir: Path) -> list[ReferenceJob]:
    """The run's reference models that were trained to the end, each with its evaluation job."""
    from clearbench.jobs.job import JOBS, read_state
    from clearbench.report.run_dir import read_entries

    run_dir = Path(run_dir)
    evaluations = {}
    for path in sorted((run_dir / JOBS).glob("*/job.json")):
        files.require_inside(run_dir, path)
        record = files.read_json_object(path)
        model = record.get("spec", {}).get("model")
        if record.get("kind") == "evaluate" and isinstance(model, dict) and "job" in model:
            if read_state(run_dir, path.parent.name)["state"] == "done":
                evaluations[model["job"]] = path.parent.name
    found = []
    for entry in read_entries(run_dir):
        if entry.kind not in REFERENCE_KINDS or entry.job is None:
            continue
        if read_state(run_dir, entry.job)["state"] != "done":
            continue
        found.append(ReferenceJob(entry.name, entry.kind, entry.job, evaluations.get(entry.job)))
    return found


def _value(config: dict, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def differences(earlier: Any, now: Any, prefix: str) -> list[str]:
    """`key: earlier → now` for every nested key whose value differs."""
    if isinstance(earlier, dict) and isinstance(now, dict):
        changes = []
        for key in sorted(set(earlier) | set(now), key=str):
            changes += differences(earlier.get(key), now.get(key), f"{prefix}.{key}")
        return changes
    return [] if earlier == now else [f"{prefix}: {earlier!r} → {now!r}"]


def check_compatible(
    earlier_config: dict, earlier_revision: str | None, config: dict, data_revision: str, where: str
) -> list[str]:
    """Refuse (UserError naming every differing key) an earlier run whose reference models were made
    differently; returns the eval keys that differ (its eval logs are then not adopted)."""
    changes = []
    if earlier_revision != data_revision:
        changes.append(f"data revision: {earlier_revision!r} → {data_revision!r}")
    for key in TRAINING_KEYS:
        changes += differences(_value(earlier_config, key), _value(config, key), key)
    if changes:
        shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
        raise UserError(
            f"--reuse {where}: its reference models were made with other data or settings ({shown})"
        )
    return [
        change
        for key in EVAL_KEYS
        for change in differences(_value(earlier_config, key), _value(config, key), key)
    ]


def resolve_source(source: str | Path) -> Path:
    """A local run or export folder; a Hub repo id (owner/name, not a local path) is downloaded first."""
    path = Path(source).expanduser()
    if path.exists() or str(source).count("/") != 1 or str(source).startswith((".", "/", "~")):
        return path
    from clearbench.data.load import hub_offline

    if hub_offline():
        raise UserError(f"--reuse {source}: a Hub repository needs the network, and HF_HUB_OFFLINE is set")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source), repo_type="model"))
    except Exception as error:  # network, auth or missing repo: the user's to fix
        raise UserError(f"--reuse {source}: cannot download it from the Hub: {error}") from None


def adopt_reference_models(source: str | Path, run_dir: Path, config: dict, data_revision: str) -> dict:
    """Adopt the base, target and gold models (and, with the same eval settings, their eval logs) of
    the run at `source` into `run_dir`; returns {"models": [names], "eval_logs": [names], "eval_differs":
    [keys]}. `config` is the new run's resolved config (`RunConfig.to_dict()`), `data_revision` the
    revision its data has (computed before any training)."""
    from clearbench.jobs.job import JOBS

    earlier = resolve_source(source)
    earlier_config, record = read_run(earlier)
    eval_differs = check_compatible(
        earlier_config, record.get("data_revision"), config, data_revision, str(source)
    )
    jobs = reference_jobs(earlier)
    if not any(job.kind == "target" for job in jobs):
        raise UserError(f"--reuse {source}: it holds no finished target model")
    adopted: dict[str, list] = {"models": [], "eval_logs": [], "eval_differs": eval_differs}
    for job in jobs:
        keys = [job.key] + ([job.eval_key] if job.eval_key and not eval_differs else [])
        for key in keys:
            target = Path(run_dir) / JOBS / key
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                source_job = files.require_inside(earlier, earlier / JOBS / key, "--reuse")
                files.copy_tree(source_job, target, hard_links=True)  # links never leave the job
                _check_weights(target, job.name, source)
        adopted["models"].append(job.name)
        if len(keys) == 2:
            adopted["eval_logs"].append(job.name)
    return adopted


def _check_weights(job_dir: Path, name: str, source) -> None:
    """A checkpoint whose weights are not the ones its training recorded (replaced or edited since)
    is refused: reusing it would report another model's numbers under this one's settings."""
    output = job_dir / "output"
    if not (output / files.WEIGHTS).is_file():
        return  # saved before weights were recorded
    recorded = files.read_json_object(output / files.WEIGHTS).get("sha256")
    found = files.weights_hash(output)
    if recorded != found:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise UserError(
            f"--reuse {source}: the weights of {name} ({output}) are not the ones its training saved "
            f"(recorded {recorded}, found {found})"
        )
