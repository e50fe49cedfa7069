"""Fixtures of the hostile suite: a tiny synthetic source, the command run in-process, a pipeline
whose stages write small stand-ins instead of training models.

Every case asserts: exit code 2 (or a documented success), one `clearbench: error:` line naming what
is wrong, no traceback, and no partial output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clearbench.cli import main
from clearbench.data.synth import generate
from hostile.helpers import FakeStages, Outcome


@pytest.fixture
def cli(capsys):
    """Run `clearbench ARGS` in-process; never a traceback, whatever the outcome."""

    def run(*argv) -> Outcome:
        capsys.readouterr()
        code = main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def refused(cli):
    """Run a command that must be refused: exit 2 and one error line holding every `needle`."""

    def run(argv, *needles) -> str:
        outcome = cli(*argv)
        assert outcome.code == 2, outcome.err[-3000:]
        line = outcome.error
        for needle in needles:
            assert needle in line, line
        return line

    return run


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Path:
    """A valid tiny synthetic source; tests that break data work on a copy (`source`)."""
    return generate(tmp_path_factory.mktemp("hostile") / "synth", persons=4, seed=0, image_size=16)


@pytest.fixture
def source(pristine, tmp_path) -> Path:
    copy = tmp_path / "source"
    shutil.copytree(pristine, copy)
    return copy


@pytest.fixture
def fake_stages(monkeypatch):
    return FakeStages(monkeypatch)


@pytest.fixture
def run_args(pristine):
    """`clearbench run` arguments for a tiny run on the pristine source (stand-in stages)."""

    def args(out: Path, *overrides: str) -> list[str]:
        settings = [
            f"data.source={pristine}",
            "unlearn.methods=[ga, npo]",
            "eval.max_rows=2",
            "eval.bootstrap=0",  # the stand-in logs have no rows to resample
            "attack.attacks=[]",  # nor anything to attack
            *overrides,
        ]
        return ["run", "--out", str(out)] + [part for item in settings for part in ("--set", item)]

    return args
