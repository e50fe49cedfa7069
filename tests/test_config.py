import pytest

from clearbench.config import PAPER_METHODS, forget_config, load_config, preset_names
from clearbench.errors import UserError


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
    assert (config.finetune.lora_r, config.finetune.lora_alpha, config.finetune.epochs) == (8, 32, 3)
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
