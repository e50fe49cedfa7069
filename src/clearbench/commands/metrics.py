"""`clearbench metrics`: metrics of a candidate's eval logs, against a gold model's when given."""

from __future__ import annotations

import json

from clearbench.evaluate.logs import read_eval
from clearbench.evaluate.metric_table import METRICS
from clearbench.evaluate.official import COMPAT_MODES, FORMATS


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
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.evaluate.metrics import check_comparable, compute_metrics  # scipy: load only when used

    candidate = read_eval(args.candidate, args.log_format)
    gold = read_eval(args.gold, args.log_format) if args.gold else None
    if gold is not None:
        check_comparable(candidate, gold)
    result = compute_metrics(candidate, gold, compat=args.compat)
    result["gold"]["path"] = args.gold
    result["candidate"] = args.candidate
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def format_table(result: dict) -> str:
    lines = [f"compat: {result['compat']}"]
    for key in (metric.key for metric in METRICS.values() if metric.headline):
        value = result[key]
        shown = _number(value) if value is not None else f"unavailable ({result['unavailable'][key]})"
        lines.append(f"{key:28s} {shown}")
    lines.append("")
    lines.append(f"{'task':20s} {'rows':>5s} {'rouge':>8s} {'prob':>8s} {'truth_ratio':>12s}")
    for task, values in result["tasks"].items():
        lines.append(
            f"{task:20s} {values['rows']:5d} {values['rouge']:8.4f} {values['prob']:8.4f} "
            f"{values['truth_ratio']:12.4f}"
        )
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
