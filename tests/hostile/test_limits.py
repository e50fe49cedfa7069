"""Values past what the libraries below accept end in one line naming the option, exit 2: a seed
past 32 bits (numpy), --max-new-tokens 0 (transformers), a file name longer than the file system
allows, a plugin method whose loss is not a scalar or carries no gradient."""

from __future__ import annotations

import pytest
import torch

from clearbench.errors import UserError
from clearbench.train.unlearn import check_loss

HUGE = str(2**64)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["finetune", "--model", "tiny-llava", "--seed", HUGE],
            f"--seed must be between 0 and 4294967295, got {HUGE}",
        ),
        (["eval", "--model", "m", "--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
        (["eval", "--model", "m", "--max-new-tokens", "0"], "--max-new-tokens must be at least 1, got 0"),
        (
            ["attack", "--model", "m", "--attack", "quantize", "--max-new-tokens", "0"],
            "--max-new-tokens must be at least 1, got 0",
        ),
    ],
)
def test_options_past_the_libraries_limits(command, message, refused, pristine, tmp_path):
    refused([*command, "--data", pristine, "--out", tmp_path / "out"], message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            f"seeds.train=[0, {HUGE}]",
            f"config key 'seeds.train': each seed must be between 0 and 4294967295, got {HUGE}",
        ),
        (f"eval.seed={HUGE}", "config key 'eval.seed' must be between 0 and 4294967295"),
        (f"data.seed={HUGE}", "config key 'data.seed' must be between 0 and 4294967295"),
        ("eval.max_new_tokens=0", "config key 'eval.max_new_tokens' must be at least 1, got 0"),
    ],
)
def test_run_settings_past_the_libraries_limits(override, message, refused, tmp_path):
    refused(["run", "--out", tmp_path / "run", "--set", override], message)
    assert not (tmp_path / "run").exists()


def test_an_over_long_output_name(refused, tmp_path):
    name = "a" * 300
    line = refused(
        ["data", "synth", tmp_path / name, "--persons", "4"], "a file name is too long (300 characters"
    )
    assert "the file system allows 255 per name" in line


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (1.5, "method mine: loss() returned a float, not a tensor"),
        (
            torch.ones(3, requires_grad=True) * 2,
            "method mine: loss() returned a tensor of shape (3,); reduce it",
        ),
        (torch.tensor(2.0), "method mine: loss() returned a tensor without gradients"),
    ],
)
def test_a_loss_that_cannot_be_trained_on_is_named(loss, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_loss(loss, "mine")
    check_loss((torch.ones(1, requires_grad=True) * 2).sum(), "mine")  # a scalar with a gradient passes


NO_GRAD_METHOD = """
from clearbench.methods.base import Method, model_nll


class Frozen(Method):
    name = "frozen_loss"
    description = "a loss computed without gradients"
    data = frozenset({"forget"})

    def loss(self, model, batch, ref, step):
        return model_nll(model, batch["forget"]).detach(), {}
"""


@pytest.fixture
def registry_restored():
    """The file method registers itself in this process; later tests see the built-ins only."""
    from clearbench.methods.base import METHODS

    saved = dict(METHODS)
    yield
    METHODS.clear()
    METHODS.update(saved)


def test_a_plugin_method_whose_loss_has_no_gradient_is_one_line(world, refused, tmp_path, registry_restored):
    source, model = world
    path = tmp_path / "mine.py"
    path.write_text(NO_GRAD_METHOD)
    command = ["unlearn", "--model", model, "--data", source, "--forget", "tofu_forget10"]
    command += ["--retain", "tofu_retain90", "--method", f"{path}:Frozen", "--out", tmp_path / "out"]
    command += ["--max-steps", "1", "--batch-size", "2", "--grad-accum", "1", "--lora-r", "0"]
    refused(command, "method frozen_loss: loss() returned a tensor without gradients")
