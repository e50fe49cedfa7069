"""Plain causal LMs (Llama, Mistral, Phi, …) for the text-only (TOFU) track."""

from __future__ import annotations

from torch import nn

from clearbench.models.base import Adapter, unwrap


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
