"""`clearbench methods`: the unlearning methods, what data they need, whether they need a reference."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list the unlearning methods",
        description="List unlearning methods with their data needs, "
        "reference-model needs and default hyperparameters.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def method_table() -> list[dict]:
    from clearbench.methods import METHODS

    return [METHODS[name]().info() for name in sorted(METHODS)]


def run(args) -> int:
    rows = method_table()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    width = max(len(row["name"]) for row in rows)
    print(f"{'method':<{width}}  {'needs':<24} ref  description")
    for row in rows:
        needs = ",".join(row["needs"])
        print(
            f"{row['name']:<{width}}  {needs:<24} {'yes' if row['needs_reference'] else 'no ':<4} "
            f"{row['description']}"
        )
    print("\nhyperparameters: clearbench unlearn … --set key=value (see `clearbench methods --json`)")
    return 0
