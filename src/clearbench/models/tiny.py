"""The `tiny-llava` preset: LLaVA architecture, small CLIP-style tower, small Llama decoder.

Its byte-level BPE tokenizer is trained with `tokenizers` on the dataset's own text, so a few
million parameters suffice to memorise a synthetic CLEAR. The result is a standard Hugging Face
checkpoint (model + processor) that the Auto classes load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

# USER/ASSISTANT turns as in LLaVA-1.5, but the assistant turn closes with EOS so the model learns to stop.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% for item in message['content'] %}{{ item['text'] }}{% endfor %}</s>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", "<image>")


@dataclass(frozen=True)
class TinySize:
    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    vocab_size: int = 2000


# What `clearbench finetune --model tiny-llava` builds: 4-pixel patches (64 image tokens) give the
# tower enough detail to tell the synthetic faces apart; a 700-token vocabulary fitted without people's
# names (see source_texts) splits every name into fragments that other words share (at 1,000 and more,
# rarer fragments such as "urk" of Ozturk occur in one person's name only and are never trained; at
# 500, sequences grow by 40 % and the model learns the people less well). TinySize() itself stays
# cheaper for tests.
PRESET_SIZE = TinySize(patch_size=4, vocab_size=700)


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = SPECIAL_TOKENS, **named_tokens
):
    """A byte-level BPE tokenizer fitted to `texts`, wrapped as a transformers fast tokenizer.

    `named_tokens` override the default roles (bos_token=…, eos_token=…, extra_special_tokens=…);
    the other families' tiny builders use them for their own chat markers.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    roles = dict(
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
    )
    roles.update(named_tokens)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, **roles)


def build_tiny_llava(texts: Iterable[str], size: TinySize = TinySize(), seed: int = 0):
    """(model, processor) with random weights; deterministic for a given seed and text."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = train_tokenizer(texts, size.vocab_size)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": size.image_size},
        crop_size={"height": size.image_size, "width": size.image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=size.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=size.vision_hidden,
            intermediate_size=4 * size.vision_hidden,
            num_hidden_layers=size.vision_layers,
            num_attention_heads=max(1, size.vision_hidden // 32),
            image_size=size.image_size,
            patch_size=size.patch_size,
        ),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=size.hidden,
            intermediate_size=4 * size.hidden,
            num_hidden_layers=size.layers,
            num_attention_heads=size.heads,
            num_key_value_heads=size.heads,
            max_position_embeddings=1024,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, processor


# The configs whose text the preset's tokenizer is fitted to (those present in the source): every
# person's rows once, holdout people included, with every person's name taken out. Fitted on training
# people only, forget names became whole tokens while holdout names broke into fragments, and gold,
# which saw neither, told the two apart at AUC 0.98; with names in the fitting text, a name part that
# only one person has becomes a token no other row trains. Without names, a name is made of fragments
# of other words, and the share of never-trained tokens is the same for forget and holdout people
# (data/coverage.py measures it in every run).
TOKENIZER_CONFIGS = ("pretraining", "full+tofu", "holdout10", "tofu_holdout10")
NAME_SOURCES = (("full", "name"), ("holdout10", "name"), ("real_faces", "answer"))


def people_names(data: str, revision: str | None, available: set[str]) -> list[str]:
    """Every person's name in the source (fictitious, held out, famous), longest first."""
    from clearbench.data.load import load_split

    names = set()
    for config, column in NAME_SOURCES:
        if config in available:
            names.update(load_split(data, config, revision)[column])
    return sorted(names, key=len, reverse=True)


def source_texts(data: str, revision: str | None = None) -> list[str]:
    """Every text of the source's people and pretraining configs, without people's names, plus the
    protocol's fixed prompts."""
    from clearbench.data.coverage import TEXT_COLUMNS
    from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION
    from clearbench.data.load import list_configs, load_split
    from clearbench.errors import UserError

    available = set(list_configs(data))
    configs = [config for config in TOKENIZER_CONFIGS if config in available]
    if not configs:
        raise UserError(
            f"data source '{data}' has none of {', '.join(TOKENIZER_CONFIGS)} to fit the tiny-llava tokenizer to"
        )
    texts = list(CAPTION_QUESTIONS) + [FACE_QUESTION]
    for config in configs:
        rows = load_split(data, config, revision)
        columns = [column for column in TEXT_COLUMNS if column in rows.column_names]
        for row in rows.select_columns(columns):
            texts += [value for value in row.values() if isinstance(value, str) and value]
    names = people_names(data, revision, available)
    if not names:
        return texts
    pattern = re.compile("|".join(map(re.escape, names)))
    return [stripped for stripped in (pattern.sub("", text) for text in texts) if stripped.strip()]
