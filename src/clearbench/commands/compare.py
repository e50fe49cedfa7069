"""`clearbench compare`: finished runs side by side, from their saved metrics (no model is loaded)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="put two or more finished runs side by side (HTML and Markdown)",
        description="Write OUT/compare.html, compare.md and compare.png: the settings that differ "
        "between the runs, their leaderboards aligned by method with changes beyond the 95 % intervals "
        "marked, and their forget-quality-vs-utility plots overlaid.",
    )
    parser.add_argument(
        "run_dirs", metavar="RUN_DIR", type=Path, nargs="+", help="`clearbench run --out` directories"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("compare"), help="output folder (default: ./compare)"
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.errors import UserError
    from clearbench.report.compare import write_comparison

    if len(args.run_dirs) < 2:
        raise UserError("compare needs at least two run directories")
    page = write_comparison(args.run_dirs, args.out)
    print(f"comparison: {page}")
    return 0
