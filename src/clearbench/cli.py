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
    "compare",
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
        check_common(args)
        return int(args.func(args) or 0)
    except UserError as error:
        _close_bars()
        print(f"clearbench: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("clearbench: interrupted; completed stages are kept, re-run to resume", file=sys.stderr)
        return 130
    except Exception as error:
        # A full disk or an unwritable output, from a writer that does not raise OSError (safetensors)
        failure = output_failure(error)
        too_long = _name_too_long(error)
        if too_long is not None:
            _close_bars()
            print(f"clearbench: error: {too_long}", file=sys.stderr)
            return 2
        if failure is None:
            raise
        print(f"clearbench: error: cannot write output: {reason(failure)}", file=sys.stderr)
        return 2


# Options several commands share, checked once: a value out of range would otherwise fail deep inside
# numpy (a seed past 32 bits) or transformers (no tokens to generate).
SEED_LIMIT = 2**32


def check_common(args: argparse.Namespace) -> None:
    seed = getattr(args, "seed", None)
    if isinstance(seed, int) and not 0 <= seed < SEED_LIMIT:
        raise UserError(f"--seed must be between 0 and {SEED_LIMIT - 1}, got {seed}")
    tokens = getattr(args, "max_new_tokens", None)
    if isinstance(tokens, int) and tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1, got {tokens}")


def _close_bars() -> None:
    """End any progress bar an error interrupted, so that the error is a line of its own."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def _name_too_long(error: BaseException) -> str | None:
    """The one line for a path with a name longer than the file system allows (ENAMETOOLONG)."""
    import errno
    from pathlib import Path

    seen = 0
    while error is not None and seen < 10:
        seen += 1
        if isinstance(error, OSError) and error.errno == errno.ENAMETOOLONG:
            parts = Path(str(error.filename or "")).parts
            longest = max(parts, key=len, default="")
            shown = longest if len(longest) <= 40 else longest[:37] + "..."
            return (
                f"a file name is too long ({len(longest)} characters: {shown}); "
                "the file system allows 255 per name: choose a shorter --out or name"
            )
        error = error.__cause__ or error.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
