"""`clearbench report`: write a run's report again from its saved metrics (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

from clearbench.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="rebuild the report of a finished run from its saved metrics",
        description="Rebuild RUN_DIR/report/ (leaderboard, modality table, plots, report.html) from "
        "RUN_DIR/runs.json and RUN_DIR/metrics/, e.g. after changing the retain-failure line.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a `clearbench run --out` directory")
    parser.add_argument(
        "--retain-fail-threshold",
        type=float,
        default=None,
        help="Retain below which a method is set apart (default: the run's report.retain_fail_threshold)",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.report import build_report
    from clearbench.report.provenance import read_provenance
    from clearbench.report.run_dir import read_attacks, read_entries
    from clearbench.run.config import load_config

    config_file = args.run_dir / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"{args.run_dir}: no config.yaml; is this a `clearbench run` directory?")
    config = load_config(str(config_file))
    if args.retain_fail_threshold is not None:
        config.report.retain_fail_threshold = args.retain_fail_threshold
    html = build_report(
        read_entries(args.run_dir),
        args.run_dir / "report",
        config=config.to_dict(),
        retain_fail_threshold=config.report.retain_fail_threshold,
        selection=config.selection,
        attacks=read_attacks(args.run_dir),
        provenance=read_provenance(args.run_dir),
    )
    print(f"report: {html}")
    return 0
