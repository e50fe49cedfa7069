"""The tiny random causal_lm model of the offline tests (moved out of src/clearbench/models/causal_lm.py)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

# Llama-2 chat shape "[INST] q [/INST] a</s>"; used only by the tiny test model.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% else %} {{ message['content'] }}</s>{% endif %}{% endfor %}"
)


def build(texts: Iterable[str], seed: int = 0):
    """(model, tokenizer): a random Llama of ~0.2M parameters with a Llama-2 style chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from clearbench.models.tiny import train_tokenizer

    tokenizer = train_tokenizer(texts, 800, ("<pad>", "<s>", "</s>", "<unk>"), extra_special_tokens={})
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = LlamaConfig(
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
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer
