"""Time the default benchmark (`clearbench run`, the tiny preset) and print what it found.

Prints the seconds of every stage and of the whole run, then the leaderboard. The run directory is
fresh unless --out names an existing one (then completed stages are skipped and timed as such).

    python benchmarks/default_run.py [--out DIR] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE_LINE = re.compile(r"^\[(\w+)\] done in ([\d.]+)s$")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: a new temp dir)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
