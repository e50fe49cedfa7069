"""The software an artefact was made with, recorded next to every model, eval and run."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = (
    "clearbench",
    "torch",
    "transformers",
    "datasets",
    "peft",
    "accelerate",
    "tokenizers",
    "rouge-score",
    "scipy",
    "numpy",
)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found
