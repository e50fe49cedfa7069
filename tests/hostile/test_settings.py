"""Settings that cannot silently do nothing: method hyperparameters hold their declared ranges, NaN is
refused wherever a number is read, duplicates and grids over non-settings are refused."""

from __future__ import annotations

import pytest

from clearbench.errors import UserError
from clearbench.methods import get_method


@pytest.mark.parametrize(
    "method, key, value, says",
    [
        ("npo", "beta", "-1", "beta must be a positive number, got -1.0"),
        ("dpo", "beta", "0", "beta must be a positive number, got 0.0"),
        ("simnpo", "beta", "-4.5", "beta must be a positive number"),
        ("npo", "retain_weight", "-0.5", "retain_weight must not be negative, got -0.5"),
        ("gd", "forget_weight", "-1", "forget_weight must not be negative"),
        ("llmu", "idk_weight", "-1", "idk_weight must not be negative"),
        ("scrub", "alpha", "-1", "alpha must not be negative"),
        ("sku", "mismatches", "0", "mismatches must be at least 1, got 0"),
        ("undial", "gamma", "-10", "gamma must not be negative"),
        ("rmu", "steering", "-6.5", "steering must be a positive number"),
        ("rmu", "alpha", "-1", "alpha must not be negative"),
        ("npo", "beta", "nan", "beta must be a positive number, got nan"),
        ("simnpo", "gamma", "nan", "gamma must be a finite number, got nan"),
        ("npo", "beta", "inf", "beta must be a positive number, got inf"),
    ],
)
def test_hyperparameters_out_of_range_are_refused(method, key, value, says):
    with pytest.raises(UserError, match=f"method '{method}': hyperparameter {says}"):
        get_method(method, **{key: value})


def test_every_built_in_default_keeps_its_rule():
    from clearbench.methods import METHODS

    for name in METHODS:
        get_method(name)


def test_a_nan_in_a_setting_without_a_rule_is_refused():
    from clearbench.run.config import load_config

    with pytest.raises(UserError, match=r"'unlearn.hparams.npo.beta' must be a number, got NaN"):
        load_config("tiny", ["unlearn.hparams={npo: {beta: .nan}}"])


@pytest.mark.parametrize("threshold", [".nan", "-0.1", "1.5"])
def test_retain_fail_threshold_must_be_a_number_in_0_1(threshold):
    from clearbench.run.config import load_config

    with pytest.raises(UserError, match="report.retain_fail_threshold"):
        load_config("tiny", [f"report.retain_fail_threshold={threshold}"])


def test_report_refuses_a_nan_threshold(tmp_path):
    from clearbench.report import build_report

    with pytest.raises(UserError, match="retain-fail threshold must be a number in \\[0, 1\\], got nan"):
        build_report([], tmp_path / "report", retain_fail_threshold=float("nan"))


# ---- sweeps: duplicates, grids over non-settings, size ---------------------------------------------
def test_a_method_listed_twice_is_refused_before_training():
    from clearbench.run.config import load_config

    with pytest.raises(UserError, match="'unlearn.methods' lists ga more than once"):
        load_config("tiny", ["unlearn.methods=[ga, npo, ga]"])


def test_a_grid_point_repeated_is_refused():
    from clearbench.run.config import load_config

    with pytest.raises(UserError, match=r"'unlearn.grid.npo.beta' repeats the value 0.1"):
        load_config("tiny", ["unlearn.methods=[npo]", "unlearn.grid={npo: {beta: [0.1, 0.5, 0.1]}}"])


def test_a_grid_over_methods_is_refused():
    from clearbench.run.config import load_config

    with pytest.raises(UserError, match="sweeps training settings and npo's hyperparameters, not 'methods'"):
        load_config("tiny", ["unlearn.methods=[npo]", "unlearn.grid={npo: {methods: [[ga], [npo]]}}"])


def test_a_huge_grid_asks_for_yes(tmp_path, refused, fake_stages):
    values = "[" + ", ".join(f"{i + 1}.0e-5" for i in range(11)) + "]"
    grid = f"unlearn.grid={{npo: {{learning_rate: {values}, beta: {values}}}}}"
    argv = ["run", "--out", tmp_path / "run", "--set", "unlearn.methods=[npo]", "--set", grid]
    refused(argv, "holds 121 points (more than 100)", "pass --yes")
    assert not (tmp_path / "run").exists() and fake_stages.calls == []


def test_a_grid_within_the_limit_is_accepted():
    from clearbench.run import sweep
    from clearbench.run.config import load_config

    config = load_config("tiny", ["unlearn.methods=[npo]", "unlearn.grid={npo: {beta: [0.1, 0.5]}}"])
    sweep.check_size(config.unlearn, confirmed=False)
    assert sweep.size(config.unlearn) == 2
