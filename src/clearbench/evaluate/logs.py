"""Eval logs: one JSON file per task with per-sample values, the seam between scoring and metrics.

An eval directory holds `<task>.json` for each evaluated task and `summary.json`. A task log maps
each per-sample key to {"0": value, "1": value, ...} (string indices, as TOFU writes them); the
key names are TOFU's and CLEAR's, so official tools and ours read each other's logs:

    {"task": "forget_captions", "config": "forget10_perturbed", "forget": true, "prob_kind": "answer",
     "avg_gt_loss": {"0": 0.41}, "gt_loss": {...}, "num_token_gt": {...},
     "avg_paraphrased_loss": {...}, "paraphrased_loss": {...}, "num_token_paraphrased": {...},
     "average_perturb_loss": {"0": [..K..]}, "perturb_loss": {...}, "num_token_perturb": {...},
     "generated_text": {"0": [prompt, generation, reference]},
     "rougeL_recall": {"0": 0.9}, "rouge1_recall": {...}}

`prob_kind` "answer": Prob = mean exp(-avg_gt_loss); "choice": the true answer against the wrong
options in `average_perturb_loss` (and the "paraphrase" is the true answer itself). Official logs
have no header; `read_eval` fills it in from the task's declaration (`TASKS` in tasks.py). A task
not declared there needs `forget` and `prob_kind` in its log.

Membership-inference values (clearbench's own keys; official tools ignore extra keys), per sample
of the true answer, from the same forward pass as `avg_gt_loss` (evaluate/membership.py):

    "mia_k": 0.2,                                   header: the k of Min-K % / Min-K %++
    "mia_loss": {"0": -0.41}, "mia_zlib": {...},    scores, higher = more likely a member
    "mia_min_k": {...}, "mia_min_k_plus_plus": {...},
    "gt_token_logprobs": {"0": [..T..]},            log p(y_t) of each answer token
    "gt_token_z": {"0": [..T..]}                    Min-K %++'s z_t of each answer token

A holdout task's log (`"holdout": true`, people never trained on) holds only the true answer's keys
(`avg_gt_loss`, `gt_loss`, `num_token_gt`) and the membership keys: no paraphrase, alternatives or
generation.
"""

from __future__ import annotations

import math
from pathlib import Path

from clearbench import atomic, files
from clearbench.errors import UserError
from clearbench.evaluate import official
from clearbench.evaluate.tasks import PROB_KINDS, TASKS

SUMMARY = "summary.json"
AGGREGATED = "eval_log_aggregated.json"
# Keys metrics cannot do without. ROUGE is read from `rougeL_recall`, or recomputed from
# `generated_text` when that key is empty or absent (the official CLEAR evaluation writes
# `"rougeL_recall": {}` and recomputes ROUGE from the generations later).
REQUIRED_KEYS = ("avg_gt_loss", "avg_paraphrased_loss", "average_perturb_loss")
# A holdout log needs only the true answer's loss; its membership keys are checked where used.
HOLDOUT_REQUIRED_KEYS = ("avg_gt_loss",)
HEADER_KEYS = ("task", "config", "forget", "prob_kind", "holdout", "source")


def task_path(eval_dir, task: str) -> Path:
    return Path(eval_dir) / f"{task}.json"


def write_task_log(eval_dir, task: str, log: dict) -> Path:
    """Validate and write one task's log atomically (a half-written file never looks complete)."""
    path = task_path(eval_dir, task)
    header = _header(task, log, str(path))
    full = {"task": task, **({"config": log["config"]} if "config" in log else {})}
    full |= {"forget": header["forget"], "prob_kind": header["prob_kind"]}
    if header["holdout"]:
        full["holdout"] = True
    full |= {key: value for key, value in log.items() if key not in HEADER_KEYS}
    validate({**full, "source": str(path)})
    atomic.write_json(path, full)
    return path


def write_summary(eval_dir, summary: dict) -> Path:
    path = Path(eval_dir) / SUMMARY
    atomic.write_json(path, summary)
    return path


def completed_tasks(eval_dir) -> set[str]:
    """Tasks whose log is already written (writes are atomic, so a present file is complete)."""
    eval_dir = Path(eval_dir)
    if not eval_dir.is_dir():
        return set()
    return {
        path.stem
        for path in eval_dir.glob("*.json")
        if path.name != SUMMARY and not path.name.startswith(".")
    }


def read_eval(path, fmt: str | None = None) -> dict[str, dict]:
    """Read every task log of an evaluation: {task name: log with header fields filled in}.

    `path` is a clearbench eval directory, an official TOFU / CLEAR aggregated JSON file, or a
    directory holding `eval_log_aggregated.json` or the official per-task `eval_*.json` files.
    `fmt` ("tofu" / "clear") forces the official format when the file names cannot tell.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():  # a file; a device or FIFO is refused by the guarded read
        return _read_official(_load(path), str(path), fmt)
    if not path.is_dir():
        raise UserError(f"{path}: no such eval directory or log file")
    if (path / AGGREGATED).is_file():
        return _read_official(_load(path / AGGREGATED), str(path / AGGREGATED), fmt)
    files = sorted(p for p in path.glob("*.json") if p.name != SUMMARY and not p.name.startswith("."))
    if not files:
        raise UserError(f"{path}: holds no task logs (*.json)")
    if all(p.stem.startswith("eval_") for p in files):
        return _read_official({p.name: _load(p) for p in files}, str(path), fmt)
    logs = {}
    for file in files:
        log = _load(file)
        if not isinstance(log, dict):
            raise UserError(f"{file}: expected a JSON object, found {type(log).__name__}")
        task = log.get("task", file.stem)
        if task != file.stem:
            raise UserError(f"{file}: key 'task' says {task!r} but the file is named {file.stem!r}")
        logs[task] = normalise(task, log, str(file))
    return logs


def normalise(task: str, log: dict, source: str | None = None) -> dict:
    """`log` with its header (task, forget, prob_kind, source) filled in, after `validate`."""
    source = source or log.get("source") or f"task {task!r}"
    normalised = {**log, "task": task, **_header(task, log, source)}
    validate(normalised)
    return normalised


def data_revision(path) -> str | None:
    """The data revision a clearbench evaluation recorded: in its summary, else in its settings
    (`.settings.json`) or a task log, so deleting summary.json does not skip the check; None for
    official logs."""
    path = Path(path)
    if not path.is_dir():
        return None
    task_logs = sorted(p for p in path.glob("*.json") if p.name != SUMMARY and not p.name.startswith("."))
    for record in [path / SUMMARY, path / ".settings.json", *task_logs]:
        if record.is_file():
            found = files.read_json(record)
            if isinstance(found, dict) and found.get("data_revision") is not None:
                return str(found["data_revision"])
    return None


def samples(log: dict, key: str) -> list:
    """The per-sample values of `key`, ordered by sample index."""
    values = log.get(key)
    if not isinstance(values, dict):
        why = ""
        if key == "generated_text":
            why = " (ROUGE is recomputed from it when 'rougeL_recall' is empty or absent)"
        raise UserError(f"{_where(log)}: missing per-sample key {key!r}{why}")
    try:
        return [values[i] for i in sorted(values, key=int)]
    except ValueError:
        raise UserError(f"{_where(log)}: key {key!r} has a non-integer sample index") from None


def has_rouge(log: dict) -> bool:
    """Whether the log holds ROUGE values; an empty or absent `rougeL_recall` means "recompute"."""
    return bool(log.get("rougeL_recall"))


def validate(log: dict) -> None:
    """Check that metrics can be computed from `log`; errors name the file, the key and the row."""
    where = _where(log)
    if log.get("holdout"):
        keys = list(HOLDOUT_REQUIRED_KEYS)
    else:
        keys = list(REQUIRED_KEYS)
        keys.append("rougeL_recall" if has_rouge(log) else "generated_text")
    indices = None
    for key in keys:
        samples(log, key)  # present, with integer indices
        if indices is None:
            indices, first = set(log[key]), key
            if not indices:
                raise UserError(f"{where}: key {key!r} holds no samples")
        elif set(log[key]) != indices:
            differing = sorted(indices ^ set(log[key]), key=int)[:5]
            raise UserError(
                f"{where}: keys {first!r} and {key!r} cover different samples, e.g. index {differing}"
            )
        _check_values(log, key, where)
    for key in _SHAPES.keys() - set(keys):  # optional keys, when present, hold possible values too
        if isinstance(log.get(key), dict) and log[key]:
            _check_values(log, key, where)


def _check_values(log: dict, key: str, where: str) -> None:
    shape_ok, expected = _SHAPES.get(key, (_is_number, "one finite number"))
    bad = next((i for i, value in log[key].items() if not shape_ok(value)), None)
    if bad is not None:
        raise UserError(
            f"{where}: key {key!r} must hold {expected} per sample; row {bad} holds {log[key][bad]!r}"
        )


def _is_number(value) -> bool:
    """A finite number: an infinite loss would pass for certainty (forget quality 1.0 against gold)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_loss(value) -> bool:
    """A negative log-likelihood: finite and not below 0 (a negative one would be a probability
    above 1); -1e-6 allows the rounding of a log-softmax at probability 1."""
    return _is_number(value) and value >= -1e-6


def _is_fraction(value) -> bool:
    return _is_number(value) and 0 <= value <= 1


_LOSS = (_is_loss, "one finite number ≥ 0 (a loss: a negative log-likelihood)")
_LOSSES = (
    lambda v: isinstance(v, list) and v and all(map(_is_loss, v)),
    "a non-empty list of finite numbers ≥ 0 (losses)",
)
_FRACTION = (_is_fraction, "one number in [0, 1]")
_SHAPES = {
    "avg_gt_loss": _LOSS,
    "gt_loss": _LOSS,
    "avg_paraphrased_loss": _LOSS,
    "paraphrased_loss": _LOSS,
    "average_perturb_loss": _LOSSES,
    "perturb_loss": _LOSSES,
    "rougeL_recall": _FRACTION,
    "rouge1_recall": _FRACTION,
    "generated_text": (
        lambda v: isinstance(v, list) and len(v) == 3 and all(isinstance(x, str) for x in v),
        "[prompt, generation, reference]",
    ),
}


def _header(task: str, log: dict, source: str) -> dict:
    """`forget`, `prob_kind` and `holdout` from the log, else from the declared task; plus where it
    came from."""
    known = TASKS.get(task)
    forget = log.get("forget", known.forget if known else None)
    prob_kind = log.get("prob_kind", known.prob_kind if known else None)
    holdout = log.get("holdout", known.holdout if known else False)
    if not isinstance(holdout, bool):
        raise UserError(f"{source}: key 'holdout' must be true or false, found {holdout!r}")
    if holdout and forget:
        raise UserError(f"{source}: a log cannot be both 'forget' and 'holdout' (people never trained on)")
    if forget is None or prob_kind is None:
        raise UserError(
            f"{source}: task {task!r} is not one of {sorted(TASKS)}; such a log needs the keys "
            "'forget' and 'prob_kind'"
        )
    if not isinstance(forget, bool):
        raise UserError(f"{source}: key 'forget' must be true or false, found {forget!r}")
    if prob_kind not in PROB_KINDS:
        raise UserError(f"{source}: key 'prob_kind' must be one of {PROB_KINDS}, found {prob_kind!r}")
    return {"forget": forget, "prob_kind": prob_kind, "holdout": holdout, "source": source}


def _read_official(aggregated, source: str, fmt: str | None) -> dict[str, dict]:
    logs = {}
    for task, (key, log) in official.canonical_tasks(aggregated, source, fmt).items():
        if not isinstance(log, dict):
            raise UserError(f"{source}: task {key!r} is not a JSON object")
        logs[task] = normalise(task, log, f"{source} [{key}]")
    return logs


def _load(path: Path):
    """A log a user or another program wrote: a regular file (not /dev/zero or a FIFO), bounded in
    size and nesting (`files.read_json`)."""
    return files.read_json(path)


def _where(log: dict) -> str:
    return log.get("source") or f"task {log.get('task', '?')!r}"
