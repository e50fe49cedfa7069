"""Write requirements.lock: the exact versions (and sha256 hashes) pip resolves for clearbench[test].

The default run's committed reference leaderboard was made with these versions; README command 1 and
.ci/run install from this file, while pyproject.toml keeps ranges for library users. pip resolves as
on a fresh machine (`--ignore-installed`), with torch pinned to the CPU build this machine's pip finds.

    python tools/lock.py            # rewrite requirements.lock
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"


def resolve() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed"]
        command += ["--report", str(report), "-e", f"{ROOT}[test]", TORCH]
        subprocess.run(command, check=True)
        return json.loads(report.read_text())["install"]


def lock_lines(items: list[dict]) -> list[str]:
    lines = []
    for item in sorted(items, key=lambda item: item["metadata"]["name"].lower()):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if name == "clearbench":
            continue
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    return lines


def main() -> None:
    header = [
        "# Exact versions the reference numbers were made with: python tools/lock.py rewrites this file.",
        f"# Install {TORCH} first (the CPU build), then: pip install --require-hashes -r requirements.lock",
    ]
    (ROOT / "requirements.lock").write_text("\n".join(header + lock_lines(resolve())) + "\n")


if __name__ == "__main__":
    main()
