"""`clearbench eval`: score and generate a model's answers on the CLEAR and TOFU tasks."""

from __future__ import annotations


def register(subparsers) -> None:
    from clearbench import settings
    from clearbench.data.split_names import FORGET_SPLITS
    from clearbench.evaluate.options import EvalOptions
    from clearbench.evaluate.tasks import TASKS

    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model: one JSON log per task plus summary.json (resumes)",
        description="Evaluate a model on the CLEAR image tasks and TOFU's text tasks. Writes one "
        "log per task with per-sample losses and generations, and summary.json; "
        "tasks already written in --out are skipped.",
    )
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub model id")
    parser.add_argument("--data", required=True, help="data source: Hub id (therem/CLEAR) or local directory")
    parser.add_argument(
        "--forget-split",
        default="forget10",
        choices=FORGET_SPLITS,
        help="the people forgotten (default: forget10)",
    )
    parser.add_argument("--out", required=True, help="output directory for the logs")
    parser.add_argument(
        "--tasks",
        type=_names,
        default=None,
        help="comma-separated tasks (default: all; TOFU only for text-only models): " + ", ".join(TASKS),
    )
    settings.add_arguments(parser.add_argument_group("evaluation"), EvalOptions())
    parser.add_argument(
        "--holdout-people",
        type=_names,
        default=None,
        help="comma-separated people withheld from training, the non-members (a source without holdout configs)",
    )
    parser.add_argument("--revision", default=None, help="Hub dataset revision to pin")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model's own code from the Hub (off by default)",
    )
    parser.set_defaults(func=_run_eval)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _run_eval(args) -> int:
    from dataclasses import asdict

    from clearbench import settings
    from clearbench.evaluate.options import EvalOptions
    from clearbench.evaluate.runner import evaluate_model

    options = settings.from_arguments(EvalOptions(), args)
    settings.check(options, settings.flag)  # every value refused here, before a model is loaded
    out = evaluate_model(
        args.model,
        args.data,
        args.forget_split,
        args.out,
        tasks=args.tasks,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        holdout=args.holdout_people,
        **asdict(options),
    )
    print(out / "summary.json")
    return 0
