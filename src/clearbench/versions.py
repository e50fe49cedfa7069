"""The software an artefact was made with, recorded next to every model, eval and run; and the part
of it that changes a job's numbers, which is in the job's identity (`computing_software`); and the
machine a run was made on (`machine`)."""

from __future__ import annotations

import hashlib
import inspect
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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


# The packages whose version can change a number a job computes (a kernel, a tokenizer, a sampler, a
# metric); python and the rest are recorded (`versions`) but do not make a job another one.
NUMERIC = (
    "clearbench",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "datasets",
    "tokenizers",
    "numpy",
    "scipy",
    "rouge-score",
)


def computing_software() -> dict[str, str | None]:
    """The installed versions of the packages that compute a job's numbers."""
    found = versions()
    return {package: found[package] for package in NUMERIC}


def source_digest(cls: type) -> dict[str, str]:
    """The file a class is defined in and a hash of its text: a method's code in its jobs' identity,
    so an edited loss makes new jobs rather than reusing the old results."""
    path = Path(inspect.getfile(cls))
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}


def cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """The cores and accelerators this process may use, as the report's run panel shows them."""
    text = f"{cores()} CPU cores ({platform.machine()})"
    import torch

    if not torch.cuda.is_available():
        return text + ", no GPU"
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return text + ", GPU: " + ", ".join(names)
