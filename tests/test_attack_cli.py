"""`clearbench attack` on a tiny checkpoint: the table it prints, and bad input refused before any work."""

import argparse
import sys

import pytest
from attack_world import build_world

from clearbench.commands import attack
from clearbench.errors import UserError


def _run(argv):
    parser = argparse.ArgumentParser()
    attack.register(parser.add_subparsers())
    args = parser.parse_args(["attack", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    source, checkpoint = build_world(root, seeds=(0, 1))
    return source, checkpoint, root / "model-1"


def test_attack_prints_the_robustness_table(world, tmp_path, capsys):
    source, checkpoint, other = world
    argv = [
        "--model",
        str(checkpoint),
        "--attack",
        "queries",
        "--queries",
        "crop,jailbreak",
        "--data",
        source,
    ]
    argv += ["--out", str(tmp_path), "--name", "npo", "--target", str(checkpoint), "--gold", str(other)]
    assert _run([*argv, "--max-new-tokens", "4", "--crop-keep", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "| npo | queries-crop |" in printed and "| gold | queries-jailbreak |" in printed
    assert (tmp_path / "attacks" / "queries-crop" / "npo" / "eval" / "summary.json").is_file()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--attack", "relearn", "--relearn-fraction", "1.5"], r"--relearn-fraction must be in \(0, 1\)"),
        (["--attack", "queries", "--occlusion", "1"], r"--occlusion must be in \[0, 1\)"),
        (["--attack", "queries", "--blur-radius", "-1"], r"--blur-radius must be in \[0, 50\]"),
        (["--attack", "steal"], "unknown attack 'steal'"),
        (["--attack", "quantize", "--quantize", "int8,fp3"], "unknown weight type 'fp3'"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(world, tmp_path, extra, message):
    source, checkpoint, _ = world
    with pytest.raises(UserError, match=message):
        _run(["--model", str(checkpoint), "--data", source, "--out", str(tmp_path / "out"), *extra])
    assert not (tmp_path / "out").exists()


def test_missing_quantization_backend_is_refused(world, tmp_path, monkeypatch):
    source, checkpoint, _ = world
    monkeypatch.setitem(sys.modules, "optimum.quanto", None)
    with pytest.raises(UserError, match="optimum-quanto, which is not installed"):
        _run(
            [
                "--model",
                str(checkpoint),
                "--data",
                source,
                "--out",
                str(tmp_path / "o"),
                "--attack",
                "quantize",
            ]
        )
    assert not (tmp_path / "o").exists()
