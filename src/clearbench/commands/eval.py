"""`clearbench eval`: score and generate a model's answers on the CLEAR and TOFU tasks."""

from __future__ import annotations


def register(subparsers) -> None:
    from clearbench.data.split_names import FORGET_SPLITS
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
    parser.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="evaluate only the first N rows of each task (default: every row)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per forward pass (default: 8)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=64, help="greedy generation length (default: 64)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the per-row caption questions (default: 0)"
    )
    parser.add_argument(
        "--membership-k",
        type=float,
        default=0.2,
        help="k of the Min-K %% and Min-K %%++ membership scores, a fraction (default: 0.2)",
    )
    parser.add_argument(
        "--membership-gradnorm",
        action="store_true",
        help="also log each row's GradNorm membership score (one backward pass per row)",
    )
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
    from clearbench.evaluate.runner import evaluate_model

    out = evaluate_model(
        args.model,
        args.data,
        args.forget_split,
        args.out,
        tasks=args.tasks,
        max_rows=args.max_rows,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        membership_k=args.membership_k,
        holdout=args.holdout_people,
        membership_gradnorm=args.membership_gradnorm,
    )
    print(out / "summary.json")
    return 0
