"""`clearbench metrics`: metrics of a candidate's eval logs, against a gold model's when given."""

from __future__ import annotations

import json
import sys

from clearbench.errors import UserError
from clearbench.evaluate.logs import data_revision, read_eval
from clearbench.evaluate.metric_table import METRICS
from clearbench.evaluate.official import COMPAT_MODES, FORMATS
from clearbench.evaluate.tasks import TASKS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="compute metrics from eval logs (clearbench eval dirs or official TOFU / CLEAR logs)",
        description="Compute model utility, forget quality and per-task ROUGE / Prob / truth ratio. "
        "A and B are clearbench eval directories, official eval_log_aggregated.json files, or "
        "directories holding one; the format is detected from the task names.",
    )
    parser.add_argument("--candidate", required=True, metavar="A", help="eval logs of the model to score")
    parser.add_argument(
        "--gold",
        metavar="B",
        help="eval logs of the gold (retain-only) model; "
        "without it forget quality is reported as unavailable",
    )
    parser.add_argument(
        "--compat",
        choices=COMPAT_MODES,
        default="clearbench",
        help="definitions: corrected (default) or as the official CLEAR code computes them",
    )
    parser.add_argument(
        "--format",
        choices=sorted(FORMATS),
        dest="log_format",
        help="official log format, when the task file names cannot tell",
    )
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument(
        "--allow-different-data",
        action="store_true",
        help="compare a candidate and a gold evaluated on different data revisions (a warning, not an error)",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.evaluate.metrics import check_comparable, compute_metrics  # scipy: load only when used

    candidate = read_eval(args.candidate, args.log_format)
    gold = read_eval(args.gold, args.log_format) if args.gold else None
    if gold is not None:
        check_comparable(candidate, gold)
        _check_same_data(args)
    result = compute_metrics(candidate, gold, compat=args.compat)
    result["gold"]["path"] = args.gold
    result["candidate"] = args.candidate
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def _check_same_data(args) -> None:
    """Candidate and gold must have been evaluated on the same data, when their summaries say which."""
    ours, theirs = data_revision(args.candidate), data_revision(args.gold)
    if ours is None or theirs is None or ours == theirs:
        return
    message = (
        f"candidate {args.candidate} was evaluated on data revision {ours} but gold {args.gold} on {theirs}"
    )
    if not args.allow_different_data:
        raise UserError(message + "; evaluate both on the same data, or pass --allow-different-data")
    print(f"clearbench: warning: {message}", file=sys.stderr)


SCOPE_TITLES = {
    "images": "images: CLEAR's image tasks (the paper's columns)",
    "text": "text: TOFU's QA tasks",
    "both": "both halves",
}


def format_table(result: dict) -> str:
    """The headline metrics grouped by scope, each with the tasks (and terms) it holds, then per task."""
    lines = [f"compat: {result['compat']}"]
    for scope, title in SCOPE_TITLES.items():
        metrics = [m for m in METRICS.values() if m.headline and m.scope == scope]
        used = {m.key: result["tasks_used"].get(m.key, []) for m in metrics}
        lines += ["", title]
        halves = sorted({TASKS[task].modality for task in result["tasks"] if task in TASKS})
        if scope not in halves and not (scope == "both" and len(halves) == 2):
            held = " and ".join(halves) or "no known"
            lines.append(f"  not evaluated (the logs hold {held} tasks)")
            continue
        for metric in metrics:
            value = result[metric.key]
            if value is None:
                shown = f"unavailable ({result['unavailable'][metric.key]})"
            else:
                shown = f"{_number(value):10s} {_holds(metric, used[metric.key], result)}"
            lines.append(f"  {metric.key:26s} {shown}")
    lines.append("")
    lines.append(f"{'task':20s} {'rows':>5s} {'rouge':>8s} {'prob':>8s} {'truth_ratio':>12s}")
    for task, values in result["tasks"].items():
        lines.append(
            f"{task:20s} {values['rows']:5d} {values['rouge']:8.4f} {values['prob']:8.4f} "
            f"{values['truth_ratio']:12.4f}"
        )
    return "\n".join(lines)


def _holds(metric, tasks: list[str], result: dict) -> str:
    """What a value is made of: its terms, or the forget tasks compared (and the gold-like range)."""
    if metric.components:
        components = metric.components_for(result["compat"])
        return f"H of {len(components) * len(tasks)} terms: {', '.join(components)} x {', '.join(tasks)}"
    text = ", ".join(tasks)
    calibration = result.get("calibration", {}).get(metric.key)
    if calibration:
        low, high = calibration["gold_like"]
        rows = "/".join(map(str, calibration["rows"]))
        text += (
            f"; gold-like {calibration['coverage']:.0%} range at {rows} rows: {_number(low)}-{_number(high)}"
        )
    return text


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
