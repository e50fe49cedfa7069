"""`clearbench attack`: run attacks (relearn, quantize, queries) on one checkpoint and print how much
forgotten knowledge each brought back."""

from __future__ import annotations


def register(subparsers) -> None:
    from clearbench import settings
    from clearbench.attacks import ATTACKS
    from clearbench.attacks.options import AttackOptions
    from clearbench.data.split_names import FORGET_SPLITS

    parser = subparsers.add_parser(
        "attack",
        help="attack a model: relearning, quantization, adversarial queries (resumes)",
        description="Run attacks on a checkpoint and evaluate its forget tasks under each. With --target "
        "and --gold the same attacks run on them, and each attack gets its recovered knowledge "
        "(m_attacked − m_model) / (m_target − m_gold) and forget quality against gold attacked the same "
        "way. Writes OUT/attacks/<variant>/<model>/ and OUT/attacks/records.json; completed folders "
        "are skipped.",
    )
    parser.add_argument("--model", required=True, help="checkpoint directory of the model to attack")
    parser.add_argument(
        "--attack", required=True, type=_names, help="attack(s), comma-separated: " + ", ".join(ATTACKS)
    )
    parser.add_argument("--data", required=True, help="data source: Hub id (therem/CLEAR) or local directory")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--name", default="model", help="the model's name in the records (default: model)")
    parser.add_argument("--target", default=None, help="the target checkpoint (ceiling of the scores)")
    parser.add_argument("--gold", default=None, help="the gold checkpoint (baseline of the scores)")
    parser.add_argument(
        "--forget-split",
        default="forget10",
        choices=FORGET_SPLITS,
        help="the people forgotten (default: forget10)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the relearning split and training (default: 0)"
    )
    parser.add_argument("--eval-seed", type=int, default=0, help="seed of the per-row questions (default: 0)")
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per forward pass (default: 8)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=64, help="greedy generation length (default: 64)"
    )
    parser.add_argument("--revision", default=None, help="Hub dataset revision to pin")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model's own code from the Hub (off by default)",
    )
    settings.add_arguments(parser, AttackOptions())
    parser.set_defaults(func=_run_attack)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _run_attack(args) -> int:
    from pathlib import Path

    from clearbench import settings
    from clearbench.attacks.base import Source
    from clearbench.attacks.options import AttackOptions
    from clearbench.attacks.stage import attack_all
    from clearbench.errors import UserError
    from clearbench.evaluate.options import EvalOptions
    from clearbench.report.robustness import robustness_markdown

    options = settings.from_arguments(AttackOptions(), args)
    for flag, value in (("--batch-size", args.batch_size), ("--max-new-tokens", args.max_new_tokens)):
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    models = [Source(args.name, "unlearned", Path(args.model))]
    for kind, path in (("target", args.target), ("gold", args.gold)):
        if path is not None:
            if kind == args.name:
                raise UserError(f"--name {args.name!r} is the name of the --{kind} model; choose another")
            models.append(Source(kind, kind, Path(path)))
    records = attack_all(
        Path(args.out),
        args.data,
        args.forget_split,
        models,
        args.attack,
        options,
        EvalOptions(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, seed=args.eval_seed),
        args.seed,
        print,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        option_name=settings.flag,
    )
    print(robustness_markdown(records), end="")
    print(Path(args.out) / "attacks" / "records.json")
    return 0
