"""Find the adapter for a model name, a local checkpoint or a loaded model."""

from __future__ import annotations

import json
from pathlib import Path

from clearbench.errors import UserError
from clearbench.models.base import Adapter, unwrap
from clearbench.models.causal_lm import CausalLMAdapter
from clearbench.models.gemma3 import Gemma3Adapter
from clearbench.models.idefics3 import Idefics3Adapter
from clearbench.models.internvl import InternVLAdapter
from clearbench.models.llava import LlavaAdapter
from clearbench.models.llava_onevision import LlavaOnevisionAdapter
from clearbench.models.qwen2_vl import Qwen2VLAdapter
from clearbench.models.qwen3_vl import Qwen3VLAdapter

ADAPTERS: tuple[Adapter, ...] = (
    LlavaAdapter(),
    Qwen2VLAdapter(),
    Qwen3VLAdapter(),
    Idefics3Adapter(),
    Gemma3Adapter(),
    InternVLAdapter(),
    LlavaOnevisionAdapter(),
    CausalLMAdapter(),
)


def adapter_for_model_type(
    model_type: str, *, source: str = "", custom_code: bool = False, trust_remote_code: bool = False
) -> Adapter:
    for adapter in ADAPTERS:
        if model_type in adapter.model_types:
            return adapter
    where = f" of {source}" if source else ""
    if custom_code and not trust_remote_code:
        raise UserError(
            f"model type {model_type!r}{where} needs its own code from the checkpoint; "
            "pass --trust-remote-code if you trust it"
        )
    known = sorted(t for a in ADAPTERS for t in a.model_types)
    raise UserError(f"unsupported model type {model_type!r}{where}; supported: {', '.join(known)}")


def adapter_for(model_or_path, *, trust_remote_code: bool = False, revision: str | None = None) -> Adapter:
    """The adapter of a loaded model, a local checkpoint directory, or a Hub model id."""
    if hasattr(model_or_path, "config"):
        return adapter_for_model_type(unwrap(model_or_path).config.model_type)
    path = Path(model_or_path)
    config_file = path / "config.json"
    if config_file.is_file():
        try:
            config = json.loads(config_file.read_text())
        except json.JSONDecodeError as error:
            raise UserError(f"{config_file} is not valid JSON: {error}") from None
        if "model_type" not in config:
            raise UserError(f"{config_file} has no 'model_type'")
        return adapter_for_model_type(
            config["model_type"],
            source=str(path),
            custom_code="auto_map" in config,
            trust_remote_code=trust_remote_code,
        )
    if path.exists():
        raise UserError(f"{path} is not a model checkpoint (no config.json)")
    if str(model_or_path).count("/") != 1 or str(model_or_path).startswith((".", "/")):
        raise UserError(
            f"unknown model {str(model_or_path)!r}: not a preset, a local checkpoint "
            "or a Hugging Face Hub id (owner/name)"
        )
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(
            str(model_or_path), revision=revision, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as error:
        if "trust_remote_code" in str(error):
            raise UserError(
                f"model {model_or_path!r} needs its own code from the Hub; pass "
                "--trust-remote-code if you trust it"
            ) from None
        raise UserError(
            f"unknown model {model_or_path!r}: not a local checkpoint and not loadable "
            f"from the Hugging Face Hub ({error.__class__.__name__})"
        ) from None
    return adapter_for_model_type(config.model_type, source=str(model_or_path))


def load(model_or_path, **kwargs):
    """(model, processor, adapter) for a checkpoint or Hub id."""
    adapter = adapter_for(
        model_or_path,
        trust_remote_code=kwargs.get("trust_remote_code", False),
        revision=kwargs.get("revision"),
    )
    model, processor = adapter.load(model_or_path, **kwargs)
    return model, processor, adapter
