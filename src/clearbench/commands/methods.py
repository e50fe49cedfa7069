"""`clearbench methods`: the unlearning methods, what data they need, whether they need a reference,
and where each comes from (built in, an installed package's entry point, or a file)."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list the unlearning methods",
        description="List unlearning methods with their data needs, reference-model needs, default "
        "hyperparameters and origin: built in, an installed package's `clearbench.methods` entry point, "
        "or a file named with --method path/to/file.py:ClassName.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--method",
        dest="files",
        action="append",
        default=[],
        metavar="FILE.py:CLASS",
        help="also check and list a method defined in a file (repeatable)",
    )
    parser.set_defaults(func=run)


def method_table(files: list[str] = ()) -> list[dict]:
    from clearbench.methods import METHODS, ORIGINS, resolve_method

    for spec in files:
        resolve_method(spec)  # checks it and registers it with its origin
    return [
        METHODS[name]().info() | {"origin": ORIGINS.get(name, "registered in code")}
        for name in sorted(METHODS)
    ]


def run(args) -> int:
    from clearbench.methods import BROKEN_ENTRY_POINTS

    rows = method_table(args.files)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        width = max(len(row["name"]) for row in rows)
        print(f"{'method':<{width}}  {'needs':<24} ref  description")
        for row in rows:
            needs = ",".join(row["needs"])
            print(
                f"{row['name']:<{width}}  {needs:<24} {'yes' if row['needs_reference'] else 'no ':<4} "
                f"{row['description']}"
            )
        external = [row for row in rows if row["origin"] != "built-in"]
        if external:
            print("\nfrom outside clearbench:")
            for row in external:
                print(f"  {row['name']:<{width}}  {row['origin']}")
        print("\nhyperparameters: clearbench unlearn … --set key=value (see `clearbench methods --json`)")
    for reason in BROKEN_ENTRY_POINTS.values():  # installed but unusable: say so, list the rest
        print(f"clearbench: warning: {reason}", file=sys.stderr)
    return 0
