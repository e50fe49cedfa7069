"""`clearbench data synth | check | preview`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="generate, validate and look at CLEAR data")
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    synth = commands.add_parser("synth", help="write an offline synthetic CLEAR dataset")
    synth.add_argument(
        "out",
        metavar="OUT",
        help="output directory (replaced only if it holds a previous synth and nothing else)",
    )
    synth.add_argument(
        "--persons", type=int, default=20, help="fictitious people (default 20; 200 = CLEAR size)"
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--image-size", type=int, default=64, metavar="PX", help="image side in pixels (default 64)"
    )
    synth.add_argument("--photos", default="8-20", metavar="N|MIN-MAX", help="photos per person (8-20)")
    synth.add_argument("--questions", default="10-18", metavar="N|MIN-MAX", help="questions per person")
    synth.add_argument("--famous", type=int, default=None, help="famous people (default 3/4 of --persons)")
    synth.add_argument("--famous-photos", type=int, default=12, help="pretraining photos per famous person")
    synth.add_argument("--scenes", type=int, default=None, help="real_world scenes (default 2 per person)")
    synth.add_argument(
        "--topics", default=None, metavar="A,B", help="biography question topics (default: all)"
    )
    synth.set_defaults(func=_synth)

    check = commands.add_parser(
        "check",
        help="validate a CLEAR source (local directory or Hub id)",
        description="Validate every config of a CLEAR source: columns and types; images stored in the "
        "data files, decodable and at most 4096x4096 pixels; non-empty text of at most 4096 characters; "
        "how forget, retain, perturbed and holdout configs relate. Every command that loads a config "
        "runs the same row checks on it first.",
    )
    check.add_argument("source", metavar="SOURCE")
    check.add_argument("--revision", default=None, help="Hub dataset revision (commit, tag or branch)")
    check.set_defaults(func=_check)

    preview = commands.add_parser("preview", help="draw a grid of a config's images with their captions")
    preview.add_argument("source", metavar="SOURCE")
    preview.add_argument("--config", required=True)
    preview.add_argument("--out", required=True, help="PNG file to write")
    preview.add_argument("--count", type=int, default=16, help="images to show (default 16)")
    preview.add_argument("--columns", type=int, default=4)
    preview.add_argument("--revision", default=None)
    preview.set_defaults(func=_preview)


def _synth(args: argparse.Namespace) -> int:
    from clearbench.data.synth import generate
    from clearbench.data.synth.density import Density, parse_range

    topics = tuple(args.topics.split(",")) if args.topics is not None else None
    counts = parse_range(args.photos), parse_range(args.questions)
    density = Density(*counts, args.famous, args.famous_photos, args.scenes, topics)
    out = generate(
        args.out, persons=args.persons, seed=args.seed, image_size=args.image_size, density=density
    )
    print(f"wrote synthetic CLEAR ({args.persons} persons, seed {args.seed}) to {out}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from clearbench.data.audit import check_source
    from clearbench.data.load import dataset_revision

    revision = dataset_revision(args.source, args.revision)  # also rejects a revision for a local dir
    report = check_source(args.source, args.revision)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if not report.ok:
        count = len(report.problems)
        print(f"{count} problem{'s' if count != 1 else ''} in {args.source}", file=sys.stderr)
        return 2
    print(f"OK: {len(report.rows)} configs, {sum(report.rows.values())} rows (revision {revision})")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from clearbench.data.preview import preview

    out = preview(args.source, args.config, args.out, args.count, args.columns, args.revision)
    print(f"wrote {out}")
    return 0
