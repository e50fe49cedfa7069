"""CLEAR's configs and their columns, as `datasets.Features` (clear_spec.md §1.3).

A CLEAR source has two halves. The visual half is `therem/CLEAR`'s own configs. The text half
(TOFU's fictitious-author QA) is carried by CLEAR only as training rows inside the `+tofu` configs;
its evaluation sets live in `locuslab/TOFU`. A local directory carries both, TOFU's configs under
the prefix `tofu_`, plus configs of the synthetic world: `holdoutNN` / `tofu_holdoutNN` (photos and
biography questions of people never trained on, for membership inference) and `pretraining` (what
a pretrained VLM would already know).

`real_faces.options` and `real_world.options` hold WRONG alternatives only; the metrics add the
true answer to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasets import Features, Image, Sequence, Value

# The split vocabulary (forgetNN, retain(100-NN)), declared in split_names.py and named here.
from clearbench.data.split_names import (  # noqa: F401 (re-exported)
    FORGET_PERCENTS,
    FORGET_SPLITS,
    RETAIN_OF,
    check_forget_split,
    retain_split,
    split_percent,
)

TEXT = Value("string")
TEXTS = Sequence(Value("string"))

TOFU_PREFIX = "tofu_"
HUB_CLEAR = "therem/CLEAR"
HUB_TOFU = "locuslab/TOFU"


@dataclass(frozen=True)
class ConfigSchema:
    """One config: its columns, which of them a valid source may omit, and whether it must exist."""

    name: str
    features: Features
    optional_columns: frozenset[str] = frozenset()
    required: bool = True  # False: a synthetic-world extra that the Hub release does not have

    @property
    def required_columns(self) -> list[str]:
        return [column for column in self.features if column not in self.optional_columns]


def _features(**columns) -> Features:
    return Features(columns)


CAPTIONS = _features(image=Image(), caption=TEXT, name=TEXT)
CAPTIONS_WITH_TOFU = _features(image=Image(), caption=TEXT, question=TEXT, answer=TEXT)
CAPTIONS_PERTURBED = _features(
    image=Image(),
    caption=TEXT,
    name=TEXT,
    paraphrased_caption=TEXT,
    perturbed_captions=TEXTS,
    perturbed_names=TEXTS,
)
REAL_FACES = _features(image=Image(), answer=TEXT, options=TEXTS)
REAL_WORLD = _features(question=TEXT, answer=TEXT, image=Image(), prompt=TEXT, options=TEXTS)
PRETRAINING = _features(image=Image(), caption=TEXT, question=TEXT, answer=TEXT)
TOFU_QA = _features(question=TEXT, answer=TEXT)
TOFU_PERTURBED = _features(
    question=TEXT, answer=TEXT, paraphrased_answer=TEXT, paraphrased_question=TEXT, perturbed_answer=TEXTS
)
TOFU_FACTS_PERTURBED = _features(question=TEXT, answer=TEXT, paraphrased_answer=TEXT, perturbed_answer=TEXTS)


def _clear_schemas() -> list[ConfigSchema]:
    schemas = [ConfigSchema("full", CAPTIONS), ConfigSchema("full+tofu", CAPTIONS_WITH_TOFU)]
    for percent in FORGET_PERCENTS:
        forget, retain = f"forget{percent}", f"retain{RETAIN_OF[percent]}"
        schemas += [
            ConfigSchema(forget, CAPTIONS),
            ConfigSchema(retain, CAPTIONS),
            ConfigSchema(f"{forget}+tofu", CAPTIONS_WITH_TOFU),
            ConfigSchema(f"{retain}+tofu", CAPTIONS_WITH_TOFU),
            ConfigSchema(f"{forget}_perturbed", CAPTIONS_PERTURBED),
        ]
    schemas += [
        ConfigSchema("retain_perturbed", CAPTIONS_PERTURBED),
        ConfigSchema("real_faces", REAL_FACES),
        ConfigSchema("real_world", REAL_WORLD),
    ]
    return schemas


def _tofu_schemas() -> list[ConfigSchema]:
    # Whether TOFU's retain/forget perturbed sets carry paraphrased_question varies across
    # revisions; the metrics do not need it, so a source may omit it.
    optional_question = frozenset({"paraphrased_question"})
    schemas = [ConfigSchema(TOFU_PREFIX + "full", TOFU_QA)]
    for percent in FORGET_PERCENTS:
        schemas += [
            ConfigSchema(f"{TOFU_PREFIX}forget{percent}", TOFU_QA),
            ConfigSchema(f"{TOFU_PREFIX}retain{RETAIN_OF[percent]}", TOFU_QA),
            ConfigSchema(f"{TOFU_PREFIX}forget{percent}_perturbed", TOFU_PERTURBED, optional_question),
        ]
    schemas += [ConfigSchema(TOFU_PREFIX + "retain_perturbed", TOFU_PERTURBED, optional_question)]
    # Real authors / world facts: the "paraphrase" is the answer itself in TOFU's protocol.
    for name in ("real_authors_perturbed", "world_facts_perturbed"):
        schemas.append(
            ConfigSchema(TOFU_PREFIX + name, TOFU_FACTS_PERTURBED, frozenset({"paraphrased_answer"}))
        )
    return schemas


def _synthetic_world_schemas() -> list[ConfigSchema]:
    holdouts = [ConfigSchema(f"holdout{percent}", CAPTIONS, required=False) for percent in FORGET_PERCENTS]
    holdouts += [
        ConfigSchema(f"{TOFU_PREFIX}holdout{percent}", TOFU_QA, required=False) for percent in FORGET_PERCENTS
    ]
    # Unseen photos (synth/unseen.py): new photos of forget, retain-evaluation and holdout people.
    unseen = [ConfigSchema(f"forget{p}_unseen", CAPTIONS_PERTURBED, required=False) for p in FORGET_PERCENTS]
    unseen += [ConfigSchema("retain_unseen", CAPTIONS_PERTURBED, required=False)]
    unseen += [ConfigSchema(f"holdout{p}_unseen", CAPTIONS, required=False) for p in FORGET_PERCENTS]
    return holdouts + [ConfigSchema("pretraining", PRETRAINING, required=False)] + unseen


SCHEMAS: dict[str, ConfigSchema] = {
    schema.name: schema for schema in _clear_schemas() + _tofu_schemas() + _synthetic_world_schemas()
}
CLEAR_CONFIGS = [schema.name for schema in _clear_schemas()]
TOFU_CONFIGS = [schema.name for schema in _tofu_schemas()]
EXTRA_CONFIGS = [schema.name for schema in _synthetic_world_schemas()]


def schema_for(config: str) -> ConfigSchema:
    """The schema of a known config; KeyError for an unknown name."""
    return SCHEMAS[config]


def is_tofu(config: str) -> bool:
    return config.startswith(TOFU_PREFIX)
