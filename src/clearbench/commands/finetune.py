"""`clearbench finetune`: train a model on one config of a data source, save a merged checkpoint."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from clearbench import settings
from clearbench.train.options import FINETUNE_DEFAULTS, TrainOptions


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a model on one training config (LoRA or full), save it merged",
        description="Fine-tune MODEL (a checkpoint directory, a Hub id, or the preset 'tiny-llava') "
        "on config SPLIT of data source DATA; the output is a standard Hugging Face "
        "checkpoint with run.json, train_log.jsonl and result.json. Runs under `accelerate launch`. "
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
    settings.add_arguments(parser.add_argument_group("training"), TrainOptions(**FINETUNE_DEFAULTS))
    add_model_arguments(parser)
    add_tracking_arguments(parser)
    parser.set_defaults(func=run)


def add_tracking_arguments(parser) -> None:
    """Where training curves are reported: the options `finetune` and `unlearn` share."""
    from clearbench.train.tracking import TRACKERS

    parser.add_argument(
        "--report-to",
        nargs="+",
        default=[],
        metavar="TRACKER",
        help=f"report the training curve to {', '.join(TRACKERS)} (several allowed; tensorboard works "
        "offline, the others need their package installed)",
    )
    parser.add_argument(
        "--logging-dir",
        type=Path,
        default=None,
        help="where trackers write (TensorBoard event files, MLflow runs; default: OUT/tracking)",
    )


@contextmanager
def around_training(args):
    """What a training command sets around its work, each checked before anything trains: the
    attention implementation, where tofu_* configs come from, and the trackers of `--report-to`."""
    from clearbench.data.load import tofu_source
    from clearbench.models.base import attention
    from clearbench.train.tracking import reporting

    with (
        attention(args.attn_implementation),
        tofu_source(args.tofu_source),
        reporting(args.report_to, args.logging_dir or Path(args.out) / "tracking"),
    ):
        yield


def add_model_arguments(parser) -> None:
    """Where the model and the data come from: the options `finetune` and `unlearn` share."""
    parser.add_argument(
        "--seed", type=int, default=0, help="weights initialisation and batch order (default: 0)"
    )
    parser.add_argument("--revision", default=None, help="dataset revision (Hub sources)")
    parser.add_argument(
        "--tofu-source",
        default=None,
        help="where tofu_* configs are read from: a local copy (or Hub id) of locuslab/TOFU, for a local "
        "copy of therem/CLEAR, which has no TOFU half (default: the data source itself, or locuslab/TOFU "
        "for a Hub source)",
    )
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
    parser.add_argument(
        "--attn-implementation",
        default=None,
        choices=["sdpa", "eager", "flash_attention_2"],
        help="attention kernels (default: transformers' choice, sdpa where the model supports it; "
        "flash_attention_2 needs the flash-attn package and a CUDA GPU)",
    )


def model_options(args) -> dict:
    return {
        "seed": args.seed,
        "revision": args.revision,
        "model_revision": args.model_revision,
        "dtype": args.dtype,
        "trust_remote_code": args.trust_remote_code,
    }


def run(args) -> int:
    from clearbench.train.finetune import finetune

    options = settings.from_arguments(TrainOptions(**FINETUNE_DEFAULTS), args)
    with around_training(args):
        out = finetune(args.model, args.data, args.split, args.out, options, **model_options(args))
    if int(os.environ.get("RANK", "0")) == 0:  # once, also under `accelerate launch`
        print(out)
    return 0
