"""The tiny random idefics3 model of the offline tests (moved out of src/clearbench/models/idefics3.py)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch

from .dims import vision_dims

# "User:<image>question<end_of_utterance>\nAssistant: answer<end_of_utterance>\n" as in the
# Idefics3 family; used only by the tiny test models (Hub checkpoints ship their own).
TINY_CHAT_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>{% elif item['type'] == 'text' %} {{ item['text'] }}"
    "{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


TINY_SPECIAL_TOKENS = (
    "<|end_of_text|>",
    "<|begin_of_text|>",
    "<end_of_utterance>",
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
    "<pad>",
)


def build(texts: Iterable[str], seed: int = 0, model_type: str = "idefics3"):
    """(model, processor): a random Idefics3 / SmolVLM of ~0.2M parameters, for offline tests."""
    from transformers import LlamaConfig

    from clearbench.models.tiny import train_tokenizer

    tokenizer = train_tokenizer(
        texts,
        800,
        TINY_SPECIAL_TOKENS,
        bos_token="<|begin_of_text|>",
        eos_token="<end_of_utterance>",
        pad_token="<pad>",
        unk_token=None,
        extra_special_tokens={"image_token": "<image>"},
    )
    image_size, patch, scale = 32, 8, 2
    image_seq_len = (image_size // patch) ** 2 // scale**2
    image_kwargs = dict(
        do_image_splitting=False,
        size={"longest_edge": image_size},
        max_image_size={"longest_edge": image_size},
    )
    if model_type == "idefics3":
        from transformers import Idefics3Config as Config
        from transformers import Idefics3ForConditionalGeneration as Model
        from transformers import Idefics3Processor as Processor
        from transformers.models.idefics3 import Idefics3ImageProcessorPil as ImageProcessor
    else:
        from transformers import SmolVLMConfig as Config
        from transformers import SmolVLMForConditionalGeneration as Model
        from transformers import SmolVLMProcessor, SmolVLMVideoProcessor
        from transformers.models.smolvlm import SmolVLMImageProcessorPil as ImageProcessor

        # Its chat template reads the video processor's settings, so one must exist (torchvision).
        Processor = functools.partial(SmolVLMProcessor, video_processor=SmolVLMVideoProcessor())
    processor = Processor(
        image_processor=ImageProcessor(**image_kwargs),
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=TINY_CHAT_TEMPLATE,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = vision_dims(image_size, patch)
    config = Config(
        text_config=text,
        vision_config=vision,
        scale_factor=scale,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Model(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, processor
