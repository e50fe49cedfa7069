"""The official TOFU and CLEAR log formats: which file holds which task, and telling them apart.

Both projects write `eval_log_aggregated.json` = {file name: per-sample log}. The same file names
mean different tasks: `eval_log_forget` is forget *captions* in CLEAR but forget *QA* in TOFU, and
`eval_real_world_wo_options` is RealWorldQA images in CLEAR but world-facts questions in TOFU. Only
the set of file names tells the formats apart.

A format is a half of the benchmark; its file map is read off the tasks of that half
(`Task.official_file` in tasks.py), not declared here.
"""

from __future__ import annotations

from clearbench.errors import UserError
from clearbench.evaluate.tasks import HALVES, TASKS

# The definition sets metrics can follow: clearbench's corrected ones, or the official CLEAR code's.
COMPAT_MODES = ("clearbench", "clear-official")
# The official log formats: "clear" (the multimodal code) and "tofu" (the text code), one per half.
FORMATS = HALVES


def files(fmt: str) -> dict[str, str]:
    """Official file name (without ".json") -> clearbench task name, in the format `fmt`."""
    return {
        task.official_file: task.name for task in TASKS.values() if task.half == fmt and task.official_file
    }


def file_stem(key: str) -> str:
    """`eval_log_forget.json` -> `eval_log_forget` (official keys carry the extension)."""
    return key[: -len(".json")] if key.endswith(".json") else key


def detect_format(keys, source: str, fmt: str | None = None) -> str:
    """Return "clear" or "tofu" for an aggregated log with these top-level keys.

    `fmt` forces a format (for logs that hold only `eval_log` / `eval_log_forget`, which both share).
    """
    stems = {file_stem(key) for key in keys}
    known = {name: set(files(name)) for name in FORMATS}
    only_clear, only_tofu = known["clear"] - known["tofu"], known["tofu"] - known["clear"]
    if fmt is not None:
        if fmt not in FORMATS:
            raise UserError(f"{source}: unknown log format {fmt!r}; choose one of {sorted(FORMATS)}")
        detected = fmt
    elif stems & only_clear and stems & only_tofu:
        raise UserError(
            f"{source}: holds both CLEAR-only tasks {sorted(stems & only_clear)} and TOFU-only tasks "
            f"{sorted(stems & only_tofu)}; it is neither format"
        )
    elif stems & only_clear:
        detected = "clear"
    elif stems & only_tofu:
        detected = "tofu"
    else:
        raise UserError(
            f"{source}: cannot tell a TOFU log from a CLEAR log from the tasks {sorted(stems)}; "
            "pass the format explicitly (--format tofu or --format clear)"
        )
    unknown = sorted(stems - known[detected])
    if unknown:
        raise UserError(
            f"{source}: unknown {detected.upper()} task file(s) {unknown}; "
            f"expected some of {sorted(known[detected])}"
        )
    return detected


def canonical_tasks(aggregated: dict, source: str, fmt: str | None = None) -> dict[str, tuple[str, dict]]:
    """Map an official aggregated log to {clearbench task: (official key, per-sample log)}."""
    if not isinstance(aggregated, dict) or not aggregated:
        raise UserError(f"{source}: expected a JSON object of task logs, found {type(aggregated).__name__}")
    tasks = files(detect_format(aggregated, source, fmt))
    return {tasks[file_stem(key)]: (key, log) for key, log in aggregated.items()}
