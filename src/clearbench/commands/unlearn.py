"""`clearbench unlearn`: run one unlearning method on a model (see `clearbench.train.unlearn`)."""

from __future__ import annotations

import sys
from pathlib import Path

from clearbench import settings
from clearbench.commands.finetune import (
    add_model_arguments,
    add_tracking_arguments,
    around_training,
    model_options,
)
from clearbench.errors import UserError
from clearbench.train.options import UNLEARN_DEFAULTS, UnlearnOptions


def parse_settings(pairs: list[str] | None) -> dict[str, str]:
    """`--set key=value` pairs; values stay strings, the method converts them to its types."""
    hparams = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got {pair!r}")
        hparams[key.strip()] = value.strip()
    return hparams


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "unlearn",
        help="unlearn a forget set from a model with one method",
        description="Unlearn a forget set with one method and save a merged checkpoint, run.json, "
        "train_log.jsonl and result.json in --out. `clearbench methods` lists methods. Defaults follow "
        "the CLEAR paper (LoRA r 8, alpha 32, lr 1e-5, 5 epochs, batch 1 with 2 accumulation steps).",
    )
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub id (the target)")
    parser.add_argument("--data", default="therem/CLEAR", help="data source: Hub id or local directory")
    parser.add_argument(
        "--forget",
        default="forget10+tofu",
        help="forget config: forget10+tofu (both), forget10 (images), tofu_forget10 (text)",
    )
    parser.add_argument("--retain", default="retain90+tofu", help="retain config")
    parser.add_argument(
        "--method",
        required=True,
        help="method name (see `clearbench methods`), an installed package's `clearbench.methods` entry "
        "point, or path/to/file.py:ClassName",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--set",
        dest="hparams",
        action="append",
        metavar="KEY=VALUE",
        help="method hyperparameter, repeatable (e.g. --set beta=0.1)",
    )
    settings.add_arguments(parser.add_argument_group("training"), UnlearnOptions(**UNLEARN_DEFAULTS))
    add_model_arguments(parser)
    add_tracking_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.train.unlearn import unlearn

    options = settings.from_arguments(UnlearnOptions(**UNLEARN_DEFAULTS), args)
    with around_training(args):
        result = unlearn(
            args.model,
            args.data,
            args.forget,
            args.retain,
            args.method,
            args.out,
            options,
            hparams=parse_settings(args.hparams),
            **model_options(args),
        )
    if result["status"] != "completed":
        print(f"clearbench: unlearning {result['status']}: {result.get('reason', '')}", file=sys.stderr)
        return 1
    print(f"{args.method}: {result['steps']} steps, final loss {result['final_loss']:.4f} → {args.out}")
    return 0
