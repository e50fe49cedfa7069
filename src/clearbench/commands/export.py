"""`clearbench export RUN_DIR OUT`: a run's reference models, eval logs, metrics and leaderboard as a
folder to share (see `clearbench.run.export`), uploaded to the Hub with --push-to-hub."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a run's reference models, eval logs and leaderboard as a shareable folder",
        description="Write the base, target and gold checkpoints of a finished `clearbench run` (each "
        "with a model card), their eval logs, every model's metrics and the leaderboard to OUT, in the "
        "run's own layout: `clearbench run --reuse OUT` takes them instead of training, and "
        "huggingface_hub can upload OUT as it is (--push-to-hub).",
    )
    parser.add_argument("run_dir", type=Path, help="a finished `clearbench run` folder")
    parser.add_argument("out", type=Path, help="the folder to write (new or empty)")
    parser.add_argument(
        "--push-to-hub",
        metavar="OWNER/NAME",
        default=None,
        help="then upload OUT to this Hub model repository",
    )
    parser.add_argument(
        "--public", action="store_true", help="create the Hub repository public (default: private)"
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.run.export import check_can_push, export_run, push_to_hub

    if args.push_to_hub:
        check_can_push(args.push_to_hub)  # before writing anything
    out = export_run(args.run_dir, args.out)
    print(out)
    if args.push_to_hub:
        print(push_to_hub(out, args.push_to_hub, private=not args.public))
    return 0
