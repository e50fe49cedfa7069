"""Every config's columns and types: the schema constants match clear_spec.md §1.3, and the
synthetic generator writes exactly those features, readable by `datasets.load_dataset`."""

import pytest
from datasets import Image, Value, load_dataset

from clearbench.data.check import feature_kind
from clearbench.data.schema import CLEAR_CONFIGS, EXTRA_CONFIGS, SCHEMAS, TOFU_CONFIGS
from clearbench.data.synth import generate

# Written out by hand from clear_spec.md §1.3 and the project's contract for the tofu_ and extra configs.
CAPTIONS = {"image": "image", "caption": "string", "name": "string"}
WITH_TOFU = {"image": "image", "caption": "string", "question": "string", "answer": "string"}
PERTURBED = {
    **CAPTIONS,
    "paraphrased_caption": "string",
    "perturbed_captions": "list[string]",
    "perturbed_names": "list[string]",
}
TOFU_QA = {"question": "string", "answer": "string"}
TOFU_PERTURBED = {
    **TOFU_QA,
    "paraphrased_answer": "string",
    "paraphrased_question": "string",
    "perturbed_answer": "list[string]",
}
TOFU_FACTS = {**TOFU_QA, "paraphrased_answer": "string", "perturbed_answer": "list[string]"}
EXPECTED = {
    "full": CAPTIONS,
    "full+tofu": WITH_TOFU,
    **{f"forget{p}": CAPTIONS for p in ("01", "05", "10")},
    **{f"retain{p}": CAPTIONS for p in ("99", "95", "90")},
    **{f"forget{p}+tofu": WITH_TOFU for p in ("01", "05", "10")},
    **{f"retain{p}+tofu": WITH_TOFU for p in ("99", "95", "90")},
    **{f"forget{p}_perturbed": PERTURBED for p in ("01", "05", "10")},
    "retain_perturbed": PERTURBED,
    "real_faces": {"image": "image", "answer": "string", "options": "list[string]"},
    "real_world": {
        "question": "string",
        "answer": "string",
        "image": "image",
        "prompt": "string",
        "options": "list[string]",
    },
    "tofu_full": TOFU_QA,
    **{f"tofu_forget{p}": TOFU_QA for p in ("01", "05", "10")},
    **{f"tofu_retain{p}": TOFU_QA for p in ("99", "95", "90")},
    **{f"tofu_forget{p}_perturbed": TOFU_PERTURBED for p in ("01", "05", "10")},
    "tofu_retain_perturbed": TOFU_PERTURBED,
    "tofu_real_authors_perturbed": TOFU_FACTS,
    "tofu_world_facts_perturbed": TOFU_FACTS,
    **{f"holdout{p}": CAPTIONS for p in ("01", "05", "10")},
    **{f"tofu_holdout{p}": TOFU_QA for p in ("01", "05", "10")},
    # Unseen photos of the synthetic world (data/synth/unseen.py).
    **{f"forget{p}_unseen": PERTURBED for p in ("01", "05", "10")},
    "retain_unseen": PERTURBED,
    **{f"holdout{p}_unseen": CAPTIONS for p in ("01", "05", "10")},
    "pretraining": WITH_TOFU,
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("data") / "synth", persons=6, seed=3, image_size=32)


def test_schema_lists_exactly_the_expected_configs():
    assert set(SCHEMAS) == set(EXPECTED)
    assert set(CLEAR_CONFIGS) | set(TOFU_CONFIGS) | set(EXTRA_CONFIGS) == set(EXPECTED)
    assert all(name.startswith("tofu_") for name in TOFU_CONFIGS)
    assert not any(SCHEMAS[name].required for name in EXTRA_CONFIGS)


@pytest.mark.parametrize("config", sorted(EXPECTED))
def test_schema_columns_and_types(config):
    features = SCHEMAS[config].features
    assert {column: feature_kind(feature) for column, feature in features.items()} == EXPECTED[config]
    assert all(isinstance(f, Image) for c, f in features.items() if EXPECTED[config][c] == "image")


def test_feature_kind_tells_types_apart():
    assert feature_kind(Value("string")) == feature_kind(Value("large_string")) == "string"
    assert feature_kind(Value("int64")) == "int64"
    assert feature_kind(Image()) == "image"


def test_synthetic_configs_load_with_their_schema(synthetic):
    for config, columns in EXPECTED.items():
        dataset = load_dataset(str(synthetic), config, split="train")
        assert {c: feature_kind(f) for c, f in dataset.features.items()} == columns, config
        assert len(dataset) > 0, config


def test_forget10_perturbed_has_clears_columns_in_clears_order(synthetic):
    dataset = load_dataset(str(synthetic), "forget10_perturbed", split="train")
    assert list(dataset.features) == [
        "image",
        "caption",
        "name",
        "paraphrased_caption",
        "perturbed_captions",
        "perturbed_names",
    ]
    row = dataset[0]
    assert row["image"].size == (32, 32)
    assert len(row["perturbed_captions"]) == len(row["perturbed_names"]) == 5
