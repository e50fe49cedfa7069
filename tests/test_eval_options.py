"""Evaluation options are declared once (evaluate/options.py): the flags of `clearbench eval`, the run
config's eval keys, the evaluate job's spec and evaluate_model's keywords all come from them."""

import dataclasses
import inspect

import pytest

from clearbench.cli import build_parser, main
from clearbench.evaluate.options import EvalOptions, from_spec, job_spec
from clearbench.evaluate.runner import evaluate_model
from clearbench.run.config import EvalSection, load_config
from clearbench.settings import flag

NAMES = [field.name for field in dataclasses.fields(EvalOptions)]


def test_one_declaration_gives_flags_config_keys_and_keywords():
    parser = build_parser()
    subparser = parser._subparsers._group_actions[0].choices["eval"]
    flags = {option for action in subparser._actions for option in action.option_strings}
    assert {flag(name) for name in NAMES} <= flags
    assert set(NAMES) <= {field.name for field in dataclasses.fields(EvalSection)}
    assert set(NAMES) <= set(inspect.signature(evaluate_model).parameters)
    config = load_config(None, ["eval.membership_k=0.5", "eval.max_rows=3"])
    assert (config.eval.membership_k, config.eval.max_rows) == (0.5, 3)


def test_the_job_spec_keeps_existing_evaluations_keys():
    # The keys evaluations were made with before the options were declared: an opt-in switch only when on.
    assert job_spec(EvalOptions()) == {
        "max_rows": None, "batch_size": 8, "max_new_tokens": 64, "seed": 0, "membership_k": 0.2,
    }  # fmt: skip
    on = EvalOptions(membership_gradnorm=True)
    assert job_spec(on)["membership_gradnorm"] is True
    assert from_spec(job_spec(on)) == on and from_spec(job_spec(EvalOptions())) == EvalOptions()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--membership-k", "1.5"], "--membership-k must be in (0, 1], got 1.5"),
        (["--max-rows", "0"], "--max-rows must be at least 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    ],
)
def test_bad_values_are_refused_before_any_model_loads(argv, message, tmp_path, capsys):
    # The model and data do not exist: the option is refused before either is looked at.
    code = main(
        [
            "eval",
            "--model",
            str(tmp_path / "none"),
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            *argv,
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    with pytest.raises(Exception, match="eval.membership_k"):
        load_config(None, ["eval.membership_k=1.5"])
