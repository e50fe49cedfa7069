"""What every model family provides: loading, chat formatting, label masking, module locations.

Nothing outside `clearbench.models` knows about families. Label masking is computed on the final
token ids, after the processor has expanded image placeholders: the supervised tokens are exactly
the answer plus the end-of-turn token, counted from the end of each sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clearbench.data.format import Sample
from clearbench.errors import UserError

IGNORE_INDEX = -100


def unwrap(model: nn.Module) -> nn.Module:
    """The underlying transformers model of a PEFT / DDP / accelerate-wrapped model."""
    while True:
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        else:
            return model


class Adapter:
    """Base adapter; subclasses set the family name, model types and module paths."""

    family: str = ""
    model_types: tuple[str, ...] = ()
    has_vision: bool = True

    # ---- loading -------------------------------------------------------------------------
    def auto_model_class(self):
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText

    def load(
        self,
        path: str | Path,
        *,
        dtype: torch.dtype | str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
    ):
        """Load (model, processor). A checkpoint without a processor is a user error."""
        from transformers import AutoProcessor, AutoTokenizer

        loader = AutoProcessor if self.has_vision else AutoTokenizer
        try:
            processor = loader.from_pretrained(
                str(path), trust_remote_code=trust_remote_code, revision=revision
            )
        except (OSError, ValueError) as error:
            raise UserError(f"cannot load a processor from {path!s}: {error}") from None
        if self.has_vision and not hasattr(processor, "image_processor"):
            raise UserError(f"{path!s} has a tokenizer but no image processor (preprocessor_config.json)")
        model = self.auto_model_class().from_pretrained(
            str(path),
            dtype=dtype or "auto",
            trust_remote_code=trust_remote_code,
            revision=revision,
            use_safetensors=True,
        )
        return model, processor

    def tokenizer(self, processor):
        return getattr(processor, "tokenizer", processor)

    # ---- chat formatting -----------------------------------------------------------------
    def messages(self, sample: Sample, with_answer: bool) -> list[dict]:
        content = [{"type": "image"}] if sample.image is not None else []
        content.append({"type": "text", "text": sample.question})
        turns = [{"role": "user", "content": content}]
        if with_answer:
            turns.append({"role": "assistant", "content": [{"type": "text", "text": sample.answer}]})
        return turns

    def prompt_text(self, processor, sample: Sample) -> str:
        """The rendered user turn plus the assistant header (what generation continues)."""
        return processor.apply_chat_template(
            self.messages(sample, False), tokenize=False, add_generation_prompt=True
        )

    def end_of_turn(self, processor, tail: str) -> str:
        """The token that closes an assistant turn: the template's own, else EOS."""
        tokenizer = self.tokenizer(processor)
        stripped = tail.lstrip(" ")
        for token in sorted(tokenizer.all_special_tokens, key=len, reverse=True):
            if token and stripped.startswith(token) and token != tokenizer.pad_token:
                return token
        if tokenizer.eos_token is None:
            raise UserError("the tokenizer has no EOS token and the chat template closes no turn")
        return tokenizer.eos_token

    def training_text(self, processor, sample: Sample) -> tuple[str, int]:
        """(text ending in answer + end-of-turn, character offset where the answer starts)."""
        full = processor.apply_chat_template(self.messages(sample, True), tokenize=False)
        prompt = self.prompt_text(processor, sample)
        start = full.find(sample.answer, len(_common_prefix(prompt, full)))
        if start < 0 or not sample.answer:
            raise ValueError(f"answer not found in the rendered chat: {sample.answer!r}")
        tail = full[start + len(sample.answer) :]
        text = full[:start] + sample.answer + self.end_of_turn(processor, tail)
        return text, start

    def _call_processor(self, processor, texts: list[str], images: list, padding_side: str):
        tokenizer = self.tokenizer(processor)
        tokenizer.padding_side = padding_side
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if self.has_vision:
            kwargs["images"] = images or None
        else:
            kwargs["add_special_tokens"] = True
        return dict(processor(**kwargs))

    def _images(self, samples: Sequence[Sample]) -> list:
        images = [s.image for s in samples if s.image is not None]
        if images and not self.has_vision:
            raise UserError(f"the {self.family} family is text-only but a sample has an image")
        return [image.convert("RGB") for image in images]

    def encode(self, processor, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        """Right-padded training/scoring batch; `labels` supervise answer + end-of-turn only."""
        tokenizer = self.tokenizer(processor)
        texts, supervised = [], []
        for sample in samples:
            text, start = self.training_text(processor, sample)
            offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            # Tokens that carry any answer character (or the end token); the image placeholders
            # all precede the answer, so this count is the same after the processor expands them.
            supervised.append(sum(1 for _, end in offsets if end > start))
            texts.append(text)
        batch = self._call_processor(processor, texts, self._images(samples), "right")
        labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        lengths = batch["attention_mask"].sum(dim=1)
        for row, (length, count) in enumerate(zip(lengths.tolist(), supervised)):
            labels[row, length - count : length] = batch["input_ids"][row, length - count : length]
        batch["labels"] = labels
        return batch

    def encode_prompts(self, processor, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        """Left-padded prompts for generation (user turn + assistant header, image included)."""
        texts = [self.prompt_text(processor, sample) for sample in samples]
        return self._call_processor(processor, texts, self._images(samples), "left")

    # ---- where things are ----------------------------------------------------------------
    def language_model(self, model: nn.Module) -> nn.Module:
        return unwrap(model).model.language_model

    def decoder_layers(self, model: nn.Module) -> nn.ModuleList:
        return self.language_model(model).layers

    def vision_modules(self, model: nn.Module) -> list[nn.Module]:
        """Vision encoder and projector: what `freeze_vision` freezes."""
        return []


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]
