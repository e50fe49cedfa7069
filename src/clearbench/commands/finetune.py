"""`clearbench finetune`: train a model on one config of a data source, save a merged checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from clearbench.errors import UserError
from clearbench.train.options import add_loop_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a model on one training config (LoRA or full), save it merged",
        description="Fine-tune MODEL (a checkpoint directory, a Hub id, or the preset 'tiny-llava') "
        "on config SPLIT of data source DATA; the output is a standard Hugging Face "
        "checkpoint with train_log.jsonl and run.json. Runs under `accelerate launch`. "
        "Defaults follow the CLEAR paper (LoRA r 8, alpha 32, lr 1e-5, wd 0.01, 3 epochs).",
    )
    parser.add_argument("--model", required=True, help="checkpoint directory, Hub id, or tiny-llava")
    parser.add_argument("--data", required=True, help="local dataset directory or Hub dataset id")
    parser.add_argument(
        "--split",
        default="full+tofu",
        help="training config, or several joined by commas (default: full+tofu)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output checkpoint directory")
    lora = parser.add_argument_group("LoRA (r 0 = full fine-tuning)")
    lora.add_argument("--lora-r", type=int, default=8)
    lora.add_argument("--lora-alpha", type=int, default=32)
    lora.add_argument("--lora-dropout", type=float, default=0.0)
    lora.add_argument(
        "--lora-targets",
        default=None,
        help="comma-separated module names or regexes (default: every nn.Linear of "
        "the language model except lm_head)",
    )
    add_loop_options(parser, epochs=3.0, batch_size=12, grad_accum=1)
    vision = parser.add_mutually_exclusive_group()
    vision.add_argument(
        "--train-vision",
        dest="freeze_vision",
        action="store_false",
        default=None,
        help="also train the vision tower and projector (by default they are frozen, "
        "except in a fresh tiny-llava whose tower starts random)",
    )
    vision.add_argument(
        "--freeze-vision",
        dest="freeze_vision",
        action="store_true",
        help="keep the vision tower and projector fixed",
    )
    parser.add_argument("--revision", default=None, help="dataset revision (Hub sources)")
    parser.add_argument("--model-revision", default=None, help="model revision (Hub models)")
    parser.add_argument(
        "--dtype",
        default=None,
        choices=["float32", "bfloat16", "float16"],
        help="weights dtype when loading a checkpoint (default: as saved)",
    )
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow a checkpoint's own Python code to run"
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.train.finetune import LoraOptions, finetune
    from clearbench.train.options import loop_config

    _check_options(args)
    lora = None
    if args.lora_r:
        targets = (
            [t.strip() for t in args.lora_targets.split(",") if t.strip()] if args.lora_targets else None
        )
        lora = LoraOptions(
            r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout, target_modules=targets
        )
    loop = loop_config(args)
    out = finetune(
        args.model,
        args.data,
        args.split,
        args.out,
        lora=lora,
        loop=loop,
        batch_size=args.batch_size,
        freeze_vision=args.freeze_vision,
        revision=args.revision,
        model_revision=args.model_revision,
        trust_remote_code=args.trust_remote_code,
        dtype=args.dtype,
    )
    if int(os.environ.get("RANK", "0")) == 0:  # once, also under `accelerate launch`
        print(out)
    return 0


def _check_options(args) -> None:
    positive = {"--batch-size": args.batch_size, "--grad-accum": args.grad_accum}
    for option, value in positive.items():
        if value < 1:
            raise UserError(f"option {option}: must be at least 1, got {value}")
    if args.lora_r < 0:
        raise UserError(f"option --lora-r: must be 0 (full fine-tuning) or positive, got {args.lora_r}")
    if args.max_steps is not None and args.max_steps < 1:
        raise UserError(f"option --max-steps: must be at least 1, got {args.max_steps}")
    if args.epochs <= 0:
        raise UserError(f"option --epochs: must be positive, got {args.epochs}")
    if args.lr <= 0:
        raise UserError(f"option --lr: must be positive, got {args.lr}")
    if not 0 <= args.lora_dropout < 1:
        raise UserError(f"option --lora-dropout: must be in [0, 1), got {args.lora_dropout}")
    if args.warmup_steps < 0 or args.save_every < 0:
        raise UserError("options --warmup-steps and --save-every: must not be negative")
