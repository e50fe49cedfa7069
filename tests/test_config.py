import pytest

from clearbench.errors import UserError
from clearbench.run.config import PAPER_METHODS, forget_config, load_config, preset_names


def test_default_is_the_tiny_world_with_every_paper_method():
    config = load_config()
    assert config.data.source == "synthetic"
    assert config.model.name == "tiny-llava"
    assert config.unlearn.methods == list(PAPER_METHODS) and len(PAPER_METHODS) == 11
    assert config.unlearn.modalities == ["both"]
    assert config.retain_split == "retain90"


def test_paper_presets_follow_appendix_h():
    config = load_config("llava-1.5-7b")
    assert config.data.source == "therem/CLEAR"
    assert (config.finetune.lora.r, config.finetune.lora.alpha, config.finetune.epochs) == (8, 32, 3)
    assert (config.unlearn.epochs, config.unlearn.learning_rate) == (5, 1e-5)
    assert "qwen2-vl-2b" in preset_names()


def test_modality_preset_extends_tiny():
    tiny, modality = load_config("tiny"), load_config("modality")
    assert modality.unlearn.modalities == ["text", "images", "both"]
    assert modality.finetune == tiny.finetune


def test_overrides_are_parsed_as_yaml():
    config = load_config(
        None, ["unlearn.methods=[ga, npo]", "finetune.learning_rate=3e-4", "forget_split=forget05"]
    )
    assert config.unlearn.methods == ["ga", "npo"]
    assert config.finetune.learning_rate == 3e-4
    assert config.retain_split == "retain95"


@pytest.mark.parametrize(
    "override, message",
    [
        ("unlearn.metods=[ga]", "unknown config key 'unlearn.metods'"),
        ("colour=blue", "unknown config key 'colour'"),
        ("unlearn.modalities=[audio]", "unknown modality 'audio'"),
        ("forget_split=forget50", "forget_split 'forget50'"),
        ("novalue", "not of the form key=value"),
        ("unlearn.methods=[ga, forgetall]", "unknown method 'forgetall'"),
        ("unlearn.hparams={npo: {betta: 1}}", "betta"),
        ("unlearn.methods=ga", "'unlearn.methods' must be a list, got 'ga'"),
        ("seeds.train=[abc]", r"'seeds.train'\[0\] must be an integer"),
        ("seeds.unlearn=[]", "'seeds.unlearn' is empty"),
        ("seeds.train=[1, 1]", "'seeds.train' repeats a seed"),
        ("jobs.workers=-1", "'jobs.workers' must not be negative"),
        ("finetune.learning_rate=.nan", "'finetune.learning_rate' must be a positive number"),
        ("unlearn.lora.r=-3", "'unlearn.lora.r' must not be negative"),
        ("pretrain.epochs=0", "'pretrain.epochs' must be a positive number"),
        ("unlearn.saliency=1.5", r"'unlearn.saliency' must be in \(0, 1\]"),
        ("unlearn.lora=8", "'unlearn.lora' must be a section"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(UserError, match=message):
        load_config(None, [override])


def test_unknown_preset_lists_the_presets():
    with pytest.raises(UserError, match="unknown preset 'llava-13b'.*tiny"):
        load_config("llava-13b")


def test_forget_configs_per_modality():
    assert [forget_config("forget10", m) for m in ("both", "images", "text")] == [
        "forget10+tofu",
        "forget10",
        "tofu_forget10",
    ]


def _setting_keys(options, prefix=""):
    import dataclasses

    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if dataclasses.is_dataclass(value):
            yield from _setting_keys(value, f"{prefix}{field.name}.")
        else:
            yield prefix + field.name


def test_every_training_setting_is_a_flag_of_both_commands_and_a_config_key():
    """One declaration: the config sections are the options, and the CLI flags come from their fields."""
    import argparse

    from clearbench import settings
    from clearbench.cli import build_parser
    from clearbench.train.options import TrainOptions, UnlearnOptions

    # max_grad_norm could not be set from `clearbench run` before the sections were the options.
    config = load_config(None, ["unlearn.max_grad_norm=0.5", "finetune.lora.dropout=0.1"])
    assert config.unlearn.max_grad_norm == 0.5 and config.finetune.lora.dropout == 0.1
    assert set(_setting_keys(UnlearnOptions())) <= set(_setting_keys(config.unlearn))
    assert set(_setting_keys(TrainOptions())) <= set(_setting_keys(config.finetune))
    subcommands = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    for command, options in (("finetune", TrainOptions()), ("unlearn", UnlearnOptions())):
        flags = {flag for action in subcommands[command]._actions for flag in action.option_strings}
        missing = [key for key in _setting_keys(options) if settings.flag(key) not in flags]
        assert not missing, (command, missing)


def test_cli_flags_reach_the_options(tmp_path):
    from clearbench import settings
    from clearbench.cli import build_parser
    from clearbench.train.options import UNLEARN_DEFAULTS, UnlearnOptions

    args = build_parser().parse_args(
        [
            "unlearn",
            "--model",
            "m",
            "--method",
            "ga",
            "--out",
            str(tmp_path),
            "--lr",
            "3e-4",
            "--max-grad-norm",
            "0",
            "--lora-r",
            "0",
            "--lora-targets",
            "q_proj,v_proj",
            "--no-freeze-vision",
        ]
    )
    options = settings.from_arguments(UnlearnOptions(**UNLEARN_DEFAULTS), args)
    assert options.learning_rate == 3e-4 and options.max_grad_norm == 0
    assert options.lora.r == 0 and options.lora.target_modules == ["q_proj", "v_proj"]
    assert options.freeze_vision is False and options.grad_accum == 2 and options.epochs == 5
