"""`clearbench run`: the whole benchmark in one command."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the whole benchmark (data → models → unlearning → evaluation → report)",
        description="Run the CLEAR benchmark end to end. Re-running the same command resumes.",
    )
    parser.add_argument(
        "preset",
        nargs="?",
        default=None,
        help="preset name (tiny, modality, visual, llava-1.5-7b, qwen2-vl-2b) or a YAML file; default: tiny",
    )
    parser.add_argument("--out", required=True, type=Path, help="run directory (created or resumed)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set unlearn.methods=[ga,npo]",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="run the jobs on a local Ray runtime with N workers"
    )
    parser.add_argument("--ray-address", default=None, help="run the jobs on the Ray cluster at this address")
    parser.add_argument(
        "--reuse",
        default=None,
        metavar="PATH",
        help="take target, gold and their eval logs from this run folder, export or Hub repo (checked to match)",
    )
    parser.add_argument(
        "--report-to",
        default=None,
        metavar="TRACKERS",
        help="comma-separated trackers for training curves and metrics: tensorboard, wandb, mlflow",
    )
    parser.add_argument(
        "--rerun-changed",
        action="store_true",
        help="redo the finished jobs of --out that were made by other code or settings (a library "
        "upgraded, a method's file edited, another jobs.threads); without it such a run is refused",
    )
    parser.add_argument(
        "--yes", action="store_true", help="run a sweep grid larger than 100 points (refused without it)"
    )
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from clearbench.run import sweep
    from clearbench.run.config import load_config
    from clearbench.run.pipeline import Pipeline
    from clearbench.visual import declares_visual_track, run_visual_command

    if declares_visual_track(args.preset):  # the visual-only track has its own config and jobs
        return run_visual_command(args)
    overrides = list(args.overrides)
    if args.workers is not None:
        overrides.append(f"jobs.workers={args.workers}")
    if args.report_to is not None:
        overrides.append(f"report_to=[{args.report_to}]")
    if args.ray_address is not None:
        overrides.append(f"jobs.ray_address={args.ray_address}")
    config = load_config(args.preset, overrides)
    sweep.check_size(config.unlearn, confirmed=args.yes)
    pipeline = Pipeline(config, args.out, reuse=args.reuse, rerun_changed=args.rerun_changed)
    report = pipeline.run()
    print(f"report: {report / 'report.html'}")
    if pipeline.failed:  # the report is written, with them listed; a script or CI must still see it
        print(
            f"clearbench: {len(pipeline.failed)} job(s) failed: {', '.join(pipeline.failed)}; "
            f"see `clearbench jobs {args.out} --state failed`, fix and re-run to retry them",
            file=sys.stderr,
        )
        return 1
    return 0
