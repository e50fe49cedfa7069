"""`clearbench unlearn`: run one unlearning method on a model (see `clearbench.train.unlearn`)."""

from __future__ import annotations

import sys
from pathlib import Path

from clearbench.errors import UserError
from clearbench.train.options import add_loop_options


def parse_settings(pairs: list[str] | None) -> dict[str, str]:
    """`--set key=value` pairs; values stay strings, the method converts them to its types."""
    settings = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got {pair!r}")
        settings[key.strip()] = value.strip()
    return settings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "unlearn",
        help="unlearn a forget set from a model with one method",
        description="Unlearn a forget set with one method and save a merged checkpoint, run.json, "
        "train_log.jsonl and result.json in --out. `clearbench methods` lists methods.",
    )
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub id (the target)")
    parser.add_argument("--data", default="therem/CLEAR", help="data source: Hub id or local directory")
    parser.add_argument(
        "--forget",
        default="forget10+tofu",
        help="forget config: forget10+tofu (both), forget10 (images), tofu_forget10 (text)",
    )
    parser.add_argument("--retain", default="retain90+tofu", help="retain config")
    parser.add_argument("--method", required=True, help="method name (see `clearbench methods`)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        metavar="KEY=VALUE",
        help="method hyperparameter, repeatable (e.g. --set beta=0.1)",
    )
    add_loop_options(parser, epochs=5.0, batch_size=1, grad_accum=2)
    parser.add_argument("--full", action="store_true", help="train all weights instead of a LoRA adapter")
    parser.add_argument("--lora-r", type=int, default=8, help="LoRA rank (0: train all weights, as --full)")
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument(
        "--train-vision",
        action="store_true",
        help="also train the vision tower and projector (LoRA on them, or unfrozen)",
    )
    parser.add_argument("--l1", type=float, default=0.0, help="λ of the L1 distance from the starting model")
    parser.add_argument(
        "--saliency", type=float, default=None, help="SalUn mask: fraction of weights kept trainable (0, 1]"
    )
    parser.add_argument("--idk-file", type=Path, default=None, help="'I don't know' answers, one per line")
    parser.add_argument("--revision", default=None, help="dataset revision (Hub sources)")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.set_defaults(func=run_unlearn)


def run_unlearn(args) -> int:
    from clearbench.train.options import loop_config
    from clearbench.train.unlearn import unlearn

    loop = loop_config(args)
    lora = (
        None
        if args.full or args.lora_r == 0
        else {"r": args.lora_r, "alpha": args.lora_alpha, "include_vision": args.train_vision}
    )
    result = unlearn(
        args.model,
        args.data,
        args.forget,
        args.retain,
        args.method,
        args.out,
        hparams=parse_settings(args.settings),
        lora=lora,
        loop=loop,
        batch_size=args.batch_size,
        l1=args.l1,
        saliency=args.saliency,
        revision=args.revision,
        freeze_vision=not args.train_vision,
        idk_file=args.idk_file,
        trust_remote_code=args.trust_remote_code,
    )
    if result["status"] != "completed":
        print(f"clearbench: unlearning {result['status']}: {result.get('reason', '')}", file=sys.stderr)
        return 1
    print(f"{args.method}: {result['steps']} steps, final loss {result['final_loss']:.4f} → {args.out}")
    return 0
