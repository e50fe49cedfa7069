"""Time the default benchmark (`clearbench run`, the tiny preset) and print what it found.

Prints the seconds of every stage and of the whole run, then the leaderboard. The run directory is
fresh unless --out names an existing one (then completed stages are skipped and timed as such).

--check compares the run's leaderboard with the committed reference (benchmarks/reference/
default_leaderboard.csv), every number to 1e-6, prints each difference and exits 1 if any; a change
meant to move the numbers rewrites the reference with --update-reference (and says why in its commit).

    python benchmarks/default_run.py [--out DIR] [--set key=value ...] [--check | --update-reference]
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE_LINE = re.compile(r"^\[(\w+)\] done in ([\d.]+)s$")
REFERENCE = Path(__file__).resolve().parent / "reference" / "default_leaderboard.csv"
TOLERANCE = 1e-6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: a new temp dir)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--check", action="store_true", help="compare the leaderboard with the reference")
    which.add_argument(
        "--update-reference", action="store_true", help="make this run's leaderboard the reference"
    )
    args = parser.parse_args()
    if args.overrides and (args.check or args.update_reference):
        parser.error("the reference is the default run's: --set cannot go with --check or --update-reference")
    out = args.out or Path(tempfile.mkdtemp(prefix="clearbench-default-")) / "run"
    command = [sys.executable, "-m", "clearbench.cli", "run", "--out", str(out)]
    for override in args.overrides:
        command += ["--set", override]

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stages = []
    for line in process.stdout:
        match = STAGE_LINE.match(line.strip())
        if match:
            stages.append((match.group(1), float(match.group(2))))
            print(f"{match.group(1):>8}: {float(match.group(2)):7.1f} s", flush=True)
        elif line.startswith("[unlearn]"):
            print(f"          {line.strip()}", flush=True)
    if process.wait() != 0:
        sys.exit(f"clearbench run failed (exit {process.returncode}); see {out}")
    total = time.perf_counter() - started
    print(f"{'total':>8}: {total:7.1f} s  ({total / 60:.1f} min; target under 15 min)")
    print(f"\n{(out / 'report' / 'leaderboard.md').read_text()}")
    print(f"report: {out / 'report' / 'report.html'}")
    leaderboard = out / "report" / "leaderboard.csv"
    if args.update_reference:
        REFERENCE.parent.mkdir(exist_ok=True)
        shutil.copyfile(leaderboard, REFERENCE)
        print(f"reference updated: {REFERENCE}")
    elif args.check:
        differences = compare(leaderboard.read_text(), REFERENCE.read_text())
        for line in differences:
            print(line)
        print(
            f"check: {len(differences)} difference(s) from {REFERENCE.name}"
            if differences
            else "check: equal"
        )
        sys.exit(1 if differences else 0)


def rows_of(text: str) -> dict[str, dict[str, str]]:
    return {
        f"{row['method']} ({row['kind']}, {row['modality']})": row
        for row in csv.DictReader(io.StringIO(text))
    }


def same(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) <= TOLERANCE or a == b  # nan and inf compare as text
    except ValueError:
        return a == b


def compare(fresh: str, reference: str) -> list[str]:
    """Each row, column and value where the fresh leaderboard differs from the reference."""
    new, old = rows_of(fresh), rows_of(reference)
    lines = [
        f"model {m}: only in the {'fresh run' if m in new else 'reference'}"
        for m in sorted(new.keys() ^ old.keys())
    ]
    for model in sorted(new.keys() & old.keys()):
        for column in sorted(new[model].keys() | old[model].keys()):
            a, b = new[model].get(column, "(none)"), old[model].get(column, "(none)")
            if not same(a, b):
                lines.append(f"{model} · {column}: {a} (reference {b})")
    return lines


if __name__ == "__main__":
    main()
