"""Plain causal LMs (Llama, Mistral, Phi, …) for the text-only (TOFU) track."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from clearbench.models.base import Adapter, unwrap

# Llama-2 chat shape "[INST] q [/INST] a</s>"; used only by the tiny test model.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% else %} {{ message['content'] }}</s>{% endif %}{% endfor %}"
)


class CausalLMAdapter(Adapter):
    family = "causal_lm"
    model_types = ("llama", "mistral", "phi", "qwen2", "gemma", "gpt_neox", "stablelm")
    has_vision = False

    def auto_model_class(self):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def messages(self, sample, with_answer):
        turns = [{"role": "user", "content": sample.question}]
        if with_answer:
            turns.append({"role": "assistant", "content": sample.answer})
        return turns

    def language_model(self, model: nn.Module) -> nn.Module:
        return unwrap(model).model

    def build_tiny(self, texts: Iterable[str], seed: int = 0):
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
