"""Methods from outside the package: an installed package's `clearbench.methods` entry point and
`--method path/to/file.py:ClassName` are listed, configured and trained like built-ins, and one that
breaks the contract is one clear message before any training.

The example package (tests/fixtures/clearbench-scaled-ascent) is installed by pip, as a user would,
into a temporary folder put on sys.path: the environment's own method list is left as it is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clearbench import methods as registry
from clearbench.cli import main
from clearbench.errors import UserError
from clearbench.run.config import load_config

FIXTURE = Path(__file__).parent / "fixtures" / "clearbench-scaled-ascent"
FAST = ["--max-steps", "2", "--lr", "1e-3", "--batch-size", "2", "--grad-accum", "1", "--lora-r", "0"]

FILE_METHOD = """
from dataclasses import dataclass

from clearbench.methods.base import Method, model_nll


@dataclass
class Hparams:
    weight: float = 3.0


class WeightedAscent(Method):
    name = "weighted_ascent"
    description = "−w·NLL(F)"
    data = frozenset({"forget"})
    Hparams = Hparams

    def loss(self, model, batch, ref, step):
        forget = model_nll(model, batch["forget"])
        return -self.hparams.weight * forget, {"forget_nll": forget.item()}


class NoLoss(Method):
    name = "no_loss"


class NotAMethod:
    name = "plain"
"""


def forget_registration(names):
    for name in names:
        registry.METHODS.remove(name)
        registry.ORIGINS.pop(name, None)
        registry.BROKEN_ENTRY_POINTS.pop(name, None)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip-installs the example package into a temporary site folder and puts it on sys.path; beside it
    a hand-written distribution whose entry point names a module that does not exist."""
    root = tmp_path_factory.mktemp("external")
    package, site = root / "package", root / "site"
    shutil.copytree(FIXTURE, package)  # the build writes egg-info next to the sources
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--target", str(site), str(package)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    broken = site / "broken_method-1.0.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-method\nVersion: 1.0\n")
    (broken / "entry_points.txt").write_text("[clearbench.methods]\nbroken = no_such_module:Broken\n")
    sys.path.insert(0, str(site))
    registry.load_entry_points()
    yield site
    sys.path.remove(str(site))
    forget_registration(["scaled_ascent", "broken", "weighted_ascent"])
    for name in [name for name in sys.modules if name.startswith("clearbench_scaled_ascent")]:
        del sys.modules[name]


def unlearn_args(world, method, out):
    source, model = world
    return ["unlearn", "--model", str(model), "--data", source, "--forget", "tofu_forget10"] + [
        "--retain", "tofu_retain90", "--method", method, "--out", str(out), *FAST
    ]  # fmt: skip


def train_log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_an_installed_package_is_listed_with_its_origin(installed, capsys):
    assert main(["methods", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["scaled_ascent"]["origin"] == "entry point scaled_ascent (clearbench-scaled-ascent 0.1.0)"
    assert rows["scaled_ascent"]["hparams"] == {"scale": 0.5, "retain_weight": 0.0}
    assert rows["npo"]["origin"] == "built-in" and "broken" not in rows
    assert main(["methods"]) == 0
    captured = capsys.readouterr()
    assert "scaled_ascent  entry point scaled_ascent (clearbench-scaled-ascent 0.1.0)" in captured.out
    # the broken distribution does not hide the others; it is named on stderr
    assert "entry point 'broken' = 'no_such_module:Broken'" in captured.err


def test_an_installed_method_trains_through_clearbench_unlearn(installed, world, tmp_path, capsys):
    out = tmp_path / "scaled"
    assert main(unlearn_args(world, "scaled_ascent", out) + ["--set", "scale=2"]) == 0
    assert "scaled_ascent: 2 steps" in capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    assert run["method"]["hparams"] == {"scale": 2.0, "retain_weight": 0.0}
    for line in train_log(out):  # the package's formula, −s·NLL(F), is the loss the engine minimised
        assert line["scale"] == 2.0 and line["loss"] == pytest.approx(-2.0 * line["forget_nll"], rel=1e-5)
    assert (out / "model.safetensors").is_file()


def test_the_run_config_accepts_an_installed_method(installed):
    config = load_config(
        None, ["unlearn.methods=[ga, scaled_ascent]", "unlearn.hparams={scaled_ascent: {scale: 2}}"]
    )
    assert config.unlearn.methods == ["ga", "scaled_ascent"]
    with pytest.raises(UserError, match="'scaled_ascent' has no hyperparameter 'beta'"):
        load_config(None, ["unlearn.methods=[scaled_ascent]", "unlearn.hparams={scaled_ascent: {beta: 1}}"])


def test_a_method_in_a_file_trains_and_is_listed(installed, world, tmp_path, capsys):
    path = tmp_path / "my_methods.py"
    path.write_text(FILE_METHOD)
    spec = f"{path}:WeightedAscent"
    out = tmp_path / "weighted"
    assert main(unlearn_args(world, spec, out)) == 0
    for line in train_log(out):
        assert line["loss"] == pytest.approx(-3.0 * line["forget_nll"], rel=1e-5)
    assert registry.method_name(spec) == "weighted_ascent"
    capsys.readouterr()
    assert main(["methods", "--json", "--method", spec]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["weighted_ascent"]["origin"] == f"file {path.resolve()}"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{dir}/missing.py:WeightedAscent", "no such file"),
        ("{dir}/my_methods.py:Missing", "defines no 'Missing'; Method subclasses there: "),
        ("{dir}/my_methods.py:NotAMethod", "is not a subclass of clearbench.methods.Method"),
        ("{dir}/my_methods.py:NoLoss", "NoLoss does not define loss("),
        ("{dir}/broken.py:Anything", "cannot import"),
        ("{dir}/my_methods.py", "a file method is written path/to/file.py:ClassName"),
        (
            "broken",
            "entry point 'broken' = 'no_such_module:Broken' (group clearbench.methods): cannot import",
        ),
    ],
)
def test_an_invalid_method_is_one_message_before_training(installed, world, tmp_path, capsys, spec, message):
    (tmp_path / "my_methods.py").write_text(FILE_METHOD)
    (tmp_path / "broken.py").write_text("import no_such_dependency\n")
    out = tmp_path / "out"
    assert main(unlearn_args(world, spec.format(dir=tmp_path), out)) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("clearbench: error: ") and message in error, error
    assert not out.exists()


def test_an_external_method_may_not_take_a_built_in_name(tmp_path):
    path = tmp_path / "clash.py"
    path.write_text(FILE_METHOD.replace('name = "weighted_ascent"', 'name = "npo"'))
    with pytest.raises(UserError, match="its name 'npo' is taken by the built-in method"):
        registry.get_method(f"{path}:WeightedAscent")
    assert registry.METHODS["npo"].__module__ == "clearbench.methods.npo"


@pytest.mark.slow
def test_an_installed_method_runs_through_clearbench_run(installed, tmp_path):
    from clearbench.run.pipeline import Pipeline

    small = ["data.persons=5", "pretrain.max_steps=2", "finetune.max_steps=2", "unlearn.max_steps=2"]
    small += ["eval.max_rows=2", "eval.max_new_tokens=4", "unlearn.methods=[scaled_ascent]"]
    Pipeline(load_config(None, small), tmp_path, log=lambda line: None).run()
    runs = {entry["name"]: entry for entry in json.loads((tmp_path / "runs.json").read_text())}
    assert (
        runs["scaled_ascent"]["status"] == "completed" and runs["scaled_ascent"]["method"] == "scaled_ascent"
    )
    assert (tmp_path / "metrics" / "scaled_ascent.json").is_file()
    assert r"scaled\_ascent" in (tmp_path / "report" / "leaderboard.md").read_text()  # markdown-escaped
