"""Every preset loads, and each real-checkpoint preset names a checkpoint of a supported family with
the paper's hyperparameters (CLEAR App. H / I)."""

from importlib import resources

import pytest

from clearbench.models.registry import adapter_for_model_type
from clearbench.run.config import load_config, preset_names
from clearbench.visual import declares_visual_track

# preset -> (Hub id, its config's model_type, LoRA rank: 8 as App. H, 0 as App. I's Qwen2-VL-2B)
REAL = {
    "llava-1.5-7b": ("llava-hf/llava-1.5-7b-hf", "llava", 8),
    "qwen2-vl-2b": ("Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl", 0),
    "qwen3-vl-2b": ("Qwen/Qwen3-VL-2B-Instruct", "qwen3_vl", 0),
    "gemma-3-4b": ("google/gemma-3-4b-it", "gemma3", 8),
    "internvl3-2b": ("OpenGVLab/InternVL3-2B-hf", "internvl", 8),
    "llava-onevision-0.5b": ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava_onevision", 8),
}
NEW = ("qwen3-vl-2b", "gemma-3-4b", "internvl3-2b", "llava-onevision-0.5b")


@pytest.mark.parametrize("name", [n for n in preset_names() if not declares_visual_track(n)])
def test_every_preset_loads(name):  # the visual track's preset: tests/test_visual_run.py
    config = load_config(name)
    assert config.model.name


def test_the_real_checkpoint_presets_are_all_listed():
    assert set(REAL) <= set(preset_names())


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_presets_use_the_papers_hyperparameters(name):
    hub_id, model_type, rank = REAL[name]
    config = load_config(name)
    assert config.model.name == hub_id and not config.model.pretrain
    assert adapter_for_model_type(model_type).family  # a supported family
    assert config.data.source == "therem/CLEAR" and config.forget_split == "forget10"
    for section, epochs in ((config.finetune, 3), (config.unlearn, 5)):
        assert section.epochs == epochs and section.learning_rate == 1e-5
        assert section.lora.r == rank and (rank == 0 or section.lora.alpha == 32)
    assert config.finetune.freeze_vision is True


@pytest.mark.parametrize("name", NEW)
def test_new_presets_say_they_are_untested_at_full_size(name):
    text = resources.files("clearbench.presets").joinpath(f"{name}.yaml").read_text()
    assert "Untested at full size" in text


@pytest.mark.parametrize("name, people", [("tiny", 10), ("paper-scale", 20)])
def test_the_synthetic_presets_forget_and_hold_out_enough_people(name, people):
    from clearbench.data.synth.splits import forget_count, holdout_people_needed

    config = load_config(name)
    persons, percent = config.data.persons, config.forget_split.removeprefix("forget")
    assert forget_count(persons, percent) == people and holdout_people_needed(persons) == people
