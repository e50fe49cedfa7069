"""The official TOFU and CLEAR log formats: which file holds which task, and telling them apart.

Both projects write `eval_log_aggregated.json` = {file name: per-sample log}. The same file names
mean different tasks: `eval_log_forget` is forget *captions* in CLEAR but forget *QA* in TOFU, and
`eval_real_world_wo_options` is RealWorldQA images in CLEAR but world-facts questions in TOFU. Only
the set of file names tells the formats apart.
"""

from __future__ import annotations

from clearbench.errors import UserError

# The definition sets metrics can follow: clearbench's corrected ones, or the official CLEAR code's.
COMPAT_MODES = ("clearbench", "clear-official")

# Official file name (without ".json") -> clearbench task name.
CLEAR_FILES = {
    "eval_log_forget": "forget_captions",
    "eval_log": "retain_captions",
    "eval_forget_facerec": "forget_facerec",
    "eval_retain_facerec": "retain_facerec",
    "eval_real_faces_wo_options": "real_faces",
    "eval_real_world_wo_options": "real_world",
}
TOFU_FILES = {
    "eval_log_forget": "tofu_forget",
    "eval_log": "tofu_retain",
    "eval_real_author_wo_options": "tofu_real_authors",
    "eval_real_world_wo_options": "tofu_world_facts",
}
FORMATS = {"clear": CLEAR_FILES, "tofu": TOFU_FILES}
# File names that exist in only one of the two formats.
_ONLY_CLEAR = set(CLEAR_FILES) - set(TOFU_FILES)
_ONLY_TOFU = set(TOFU_FILES) - set(CLEAR_FILES)


def file_stem(key: str) -> str:
    """`eval_log_forget.json` -> `eval_log_forget` (official keys carry the extension)."""
    return key[: -len(".json")] if key.endswith(".json") else key


def detect_format(keys, source: str, fmt: str | None = None) -> str:
    """Return "clear" or "tofu" for an aggregated log with these top-level keys.

    `fmt` forces a format (for logs that hold only `eval_log` / `eval_log_forget`, which both share).
    """
    stems = {file_stem(key) for key in keys}
    if fmt is not None:
        if fmt not in FORMATS:
            raise UserError(f"{source}: unknown log format {fmt!r}; choose one of {sorted(FORMATS)}")
        detected = fmt
    elif stems & _ONLY_CLEAR and stems & _ONLY_TOFU:
        raise UserError(
            f"{source}: holds both CLEAR-only tasks {sorted(stems & _ONLY_CLEAR)} and TOFU-only tasks "
            f"{sorted(stems & _ONLY_TOFU)}; it is neither format"
        )
    elif stems & _ONLY_CLEAR:
        detected = "clear"
    elif stems & _ONLY_TOFU:
        detected = "tofu"
    else:
        raise UserError(
            f"{source}: cannot tell a TOFU log from a CLEAR log from the tasks {sorted(stems)}; "
            "pass the format explicitly (--format tofu or --format clear)"
        )
    unknown = sorted(stems - set(FORMATS[detected]))
    if unknown:
        raise UserError(
            f"{source}: unknown {detected.upper()} task file(s) {unknown}; "
            f"expected some of {sorted(FORMATS[detected])}"
        )
    return detected


def canonical_tasks(aggregated: dict, source: str, fmt: str | None = None) -> dict[str, tuple[str, dict]]:
    """Map an official aggregated log to {clearbench task: (official key, per-sample log)}."""
    if not isinstance(aggregated, dict) or not aggregated:
        raise UserError(f"{source}: expected a JSON object of task logs, found {type(aggregated).__name__}")
    files = FORMATS[detect_format(aggregated, source, fmt)]
    return {files[file_stem(key)]: (key, log) for key, log in aggregated.items()}
