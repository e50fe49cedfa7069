"""requirements.lock: every package pinned with a hash, inside pyproject's ranges, and installed."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+) --hash=sha256:[0-9a-f]{64}$")
# The libraries that compute the numbers: the test run must use exactly the locked ones.
NUMERIC = ("torch", "transformers", "tokenizers", "peft", "accelerate", "datasets", "numpy", "scipy")


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = LINE.match(line)
        assert match, f"requirements.lock: not 'name==version --hash=sha256:…': {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_the_lock_satisfies_every_declared_range():
    pins = locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared but not locked"
        assert requirement.specifier.contains(Version(pins[name]), prereleases=True), (name, pins[name])


def test_the_numeric_libraries_installed_are_the_locked_ones():
    pins = locked()
    for name in NUMERIC:
        assert metadata.version(name) == pins[name], (
            f"{name}: installed {metadata.version(name)}, locked {pins[name]}"
        )
