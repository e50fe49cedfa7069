"""What every model family provides: loading, chat formatting, label masking, module locations.

Nothing outside `clearbench.models` knows about families. Label masking is computed on the final
token ids, after the processor has expanded image placeholders: the supervised tokens are exactly
the answer plus the end-of-turn token, counted from the end of each sequence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
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
    # Whether the processor takes images as one list per sample (Gemma 3) instead of one flat list.
    images_per_sample: bool = False

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
        options = dict(trust_remote_code=trust_remote_code, revision=revision)
        try:
            processor = loader.from_pretrained(str(path), **options)
        except ImportError as error:  # e.g. a video processor, which needs torchvision
            processor = self._load_without_video(path, options, error)
        except (OSError, ValueError) as error:
            if not (self.has_vision and "video processor" in str(error)):
                raise UserError(f"cannot load a processor from {path!s}: {error}") from None
            processor = self._load_without_video(path, options, error)  # saved without one
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

    def _load_without_video(self, path, options: dict, error: Exception):
        """The checkpoint's processor without its video processor (clearbench feeds only images):
        its tokenizer, its image processor (the PIL one when torchvision is missing) and its chat
        template. If that fails too, the user is told which package the full processor needs."""
        from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer
        from transformers.models.auto.processing_auto import (
            PROCESSOR_MAPPING_NAMES,
            processor_class_from_name,
        )
        from transformers.processing_utils import ProcessorMixin

        try:
            processor_dict, _ = ProcessorMixin.get_processor_dict(str(path), **options)
            # Checkpoints without processor_config.json (most on the Hub) name it by model type.
            name = processor_dict.get("processor_class") or PROCESSOR_MAPPING_NAMES.get(
                AutoConfig.from_pretrained(str(path), **options).model_type
            )
            processor_class = processor_class_from_name(name or "")
            if processor_class is None or "video_processor" not in processor_class.get_attributes():
                raise error
            names = [n for n in processor_class.get_attributes() if n != "video_processor"]
            if set(names) != {"image_processor", "tokenizer"}:
                raise error
            parts = {
                "image_processor": AutoImageProcessor.from_pretrained(str(path), **options),
                "tokenizer": AutoTokenizer.from_pretrained(str(path), **options),
                "video_processor": None,
            }
            arguments = [parts[name] for name in processor_class.get_attributes()]
            return image_only_processor(processor_class).from_args_and_dict(arguments, processor_dict)
        except (ImportError, OSError, ValueError, TypeError, KeyError) as failure:
            # What blocks the image-only processor first, then what the full one needed.
            packages = list(dict.fromkeys(p for p in (missing_package(failure), missing_package(error)) if p))
            if packages:
                names = " and ".join(f"'{p}'" for p in packages)
                raise UserError(
                    f"the {self.family} processor of {path!s} needs {names}, not installed here "
                    f"(pip install {' '.join(packages)})"
                ) from None
            raise UserError(f"cannot load a processor from {path!s}: {error}") from None

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
        # Turn markers are special tokens of the vocabulary but not always named ones (Gemma's
        # <end_of_turn> is neither EOS nor in all_special_tokens).
        added = getattr(tokenizer, "added_tokens_decoder", {}).values()
        special = set(tokenizer.all_special_tokens) | {t.content for t in added if t.special}
        for token in sorted(special, key=len, reverse=True):
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
        # Passed explicitly too: some processors default to their own side (InternVL: left).
        kwargs: dict[str, Any] = {
            "text": texts,
            "return_tensors": "pt",
            "padding": True,
            "padding_side": padding_side,
        }
        if self.has_vision:
            kwargs["images"] = images if any(images) else None
            # A template that writes the BOS itself (Gemma 3) must not get a second one.
            bos = tokenizer.bos_token
            if bos and all(text.startswith(bos) for text in texts):
                kwargs["add_special_tokens"] = False
        else:
            kwargs["add_special_tokens"] = True
        return dict(processor(**kwargs))

    def _images(self, samples: Sequence[Sample]) -> list:
        """The samples' images in RGB: one flat list, or one list per sample (`images_per_sample`)."""
        if not self.has_vision and any(s.image is not None for s in samples):
            raise UserError(f"the {self.family} family is text-only but a sample has an image")
        if self.images_per_sample:
            return [[s.image.convert("RGB")] if s.image is not None else [] for s in samples]
        return [s.image.convert("RGB") for s in samples if s.image is not None]

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


def image_only_processor(processor_class):
    """`processor_class`, accepting no video processor (those need torchvision; clearbench only
    feeds images). Saved without one, it writes its tokenizer, image processor and chat template;
    `Adapter.load` reads such a checkpoint back."""

    class ImageOnly(processor_class):
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument is None and argument_name == "video_processor":
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

        def save_pretrained(self, *args, **kwargs):
            if getattr(self, "video_processor", None) is not None:
                return super().save_pretrained(*args, **kwargs)
            # `get_attributes` is a classmethod; shadowed on this instance for the save only.
            names = [name for name in type(self).get_attributes() if name != "video_processor"]
            self.get_attributes = lambda: names
            try:
                return super().save_pretrained(*args, **kwargs)
            finally:
                del self.get_attributes

    ImageOnly.__name__ = processor_class.__name__
    ImageOnly.__qualname__ = processor_class.__qualname__
    return ImageOnly


# How transformers names a missing optional package: "X requires the Torchvision library but it
# was not found", "Package `num2words` is required to run …", "… `pip install X`".
_MISSING_PACKAGE = (
    r"requires the (\w[\w.-]*) library",
    r"[Pp]ackage `?(\w[\w.-]*)`? is required",
    r"pip install (\w[\w.-]*)",
)


def missing_package(error: BaseException) -> str | None:
    """The optional package an ImportError names, if it names one."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        return error.name.split(".")[0]
    for pattern in _MISSING_PACKAGE:
        match = re.search(pattern, str(error))
        if match:
            return match.group(1).lower()
    return None


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


# ---- attention implementation ------------------------------------------------------------------
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
_ATTENTION: ContextVar[str | None] = ContextVar("clearbench_attention", default=None)


def check_attention(name: str | None, where: str = "--attn-implementation") -> str | None:
    """`name` when this machine can run it: None (transformers' default, sdpa where supported), sdpa,
    eager, or flash_attention_2 with the flash-attn package and a CUDA GPU; else a UserError."""
    if name is None:
        return None
    if name not in ATTENTION_IMPLEMENTATIONS:
        raise UserError(
            f"{where}: unknown attention {name!r}; choose from {', '.join(ATTENTION_IMPLEMENTATIONS)}"
        )
    if name == "flash_attention_2":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is None:
            raise UserError(
                f"{where}: flash_attention_2 needs the flash-attn package (pip install flash-attn)"
            )
        if not torch.cuda.is_available():
            raise UserError(f"{where}: flash_attention_2 runs on CUDA GPUs only; use sdpa here")
    return name


@contextmanager
def attention(name: str | None, where: str = "--attn-implementation") -> Iterator[None]:
    """Load every model inside with attention implementation `name` (checked first)."""
    token = _ATTENTION.set(check_attention(name, where))
    try:
        yield
    finally:
        _ATTENTION.reset(token)


def requested_attention() -> str | None:
    return _ATTENTION.get()


def set_attention(model: nn.Module, name: str | None) -> str:
    """Switch a loaded model to attention `name` (None: keep it); returns the one it uses."""
    plain = unwrap(model)
    if name is not None:
        try:
            plain.set_attn_implementation(check_attention(name))
        except (ValueError, ImportError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(
                f"model type {plain.config.model_type!r} cannot use {name} attention: {first}"
            ) from None
    return plain.config._attn_implementation
