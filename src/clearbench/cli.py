"""The `clearbench` command. Thin: each command is one module of `clearbench.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

from clearbench import __version__
from clearbench.atomic import output_failure, reason
from clearbench.errors import UserError

# Every command, in the order `clearbench --help` lists them: `clearbench.commands.<name>` defines
# register(subparsers), and its parser sets `func(args) -> int`.
COMMANDS = (
    "data",
    "finetune",
    "unlearn",
    "methods",
    "eval",
    "metrics",
    "run",
    "report",
    "jobs",
    "attack",
    "export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clearbench",
        description="CLEAR: benchmark multimodal machine unlearning (data, fine-tuning, unlearning, "
        "evaluation, report). Start with `clearbench run --out DIR`.",
    )
    parser.add_argument("--version", action="version", version=f"clearbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"clearbench.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"clearbench: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("clearbench: interrupted; completed stages are kept, re-run to resume", file=sys.stderr)
        return 130
    except Exception as error:
        # A full disk or an unwritable output, from a writer that does not raise OSError (safetensors)
        failure = output_failure(error)
        if failure is None:
            raise
        print(f"clearbench: error: cannot write output: {reason(failure)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
