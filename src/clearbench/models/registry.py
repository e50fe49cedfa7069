"""Find the adapter for a model name, a local checkpoint or a loaded model."""

from __future__ import annotations

import json
from pathlib import Path

from clearbench.errors import UserError
from clearbench.models.base import Adapter, unwrap
from clearbench.models.causal_lm import CausalLMAdapter
from clearbench.models.llava import LlavaAdapter

ADAPTERS: tuple[Adapter, ...] = (LlavaAdapter(), CausalLMAdapter())


def adapter_for_model_type(model_type: str) -> Adapter:
    for adapter in ADAPTERS:
        if model_type in adapter.model_types:
            return adapter
    known = sorted(t for a in ADAPTERS for t in a.model_types)
    raise UserError(f"unsupported model type {model_type!r}; supported: {', '.join(known)}")


def adapter_for(model_or_path) -> Adapter:
    """The adapter of a loaded model, a local checkpoint directory, or a Hub model id."""
    if hasattr(model_or_path, "config"):
        return adapter_for_model_type(unwrap(model_or_path).config.model_type)
    path = Path(model_or_path)
    config_file = path / "config.json"
    if config_file.is_file():
        return adapter_for_model_type(json.loads(config_file.read_text())["model_type"])
    if path.exists():
        raise UserError(f"{path} is not a model checkpoint (no config.json)")
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(model_or_path))
    except (OSError, ValueError) as error:
        raise UserError(f"unknown model {model_or_path!r}: not a local checkpoint and not loadable "
                        f"from the Hugging Face Hub ({error.__class__.__name__})") from None
    return adapter_for_model_type(config.model_type)


def load(model_or_path, **kwargs):
    """(model, processor, adapter) for a checkpoint or Hub id."""
    adapter = adapter_for(model_or_path)
    model, processor = adapter.load(model_or_path, **kwargs)
    return model, processor, adapter
