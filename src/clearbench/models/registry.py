"""The model families (one adapter each), and the adapter of a model name, checkpoint or loaded model.

Installed packages add families through the `clearbench.models` entry-point group: an `Adapter`
subclass (or instance) whose `family` is the entry point's name (docs/extending.md).
"""

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
from clearbench.registry import Registry


def checked_adapter(adapter, where: str) -> Adapter:
    """A plugin's adapter (an instance, or a class built without arguments) with a family and model types."""
    if isinstance(adapter, type) and issubclass(adapter, Adapter):
        adapter = adapter()
    if not isinstance(adapter, Adapter):
        raise UserError(f"{where}: {adapter!r} is not a clearbench.models.base.Adapter")
    if not adapter.family or not adapter.model_types:
        raise UserError(f"{where}: {type(adapter).__name__} must set family and model_types")
    return adapter


# Looked up in this order: a model type served by two families goes to the first (built-ins first).
FAMILIES: Registry[Adapter] = Registry(
    "model family",
    "clearbench.models",
    name_of=lambda adapter: adapter.family,
    check=checked_adapter,
    built_in=(
        LlavaAdapter(),
        Qwen2VLAdapter(),
        Qwen3VLAdapter(),
        Idefics3Adapter(),
        Gemma3Adapter(),
        InternVLAdapter(),
        LlavaOnevisionAdapter(),
        CausalLMAdapter(),
    ),
)
ADAPTERS: tuple[Adapter, ...] = tuple(FAMILIES.values())  # the built-in families
FAMILIES.load_entry_points()


def adapter_for_model_type(
    model_type: str, *, source: str = "", custom_code: bool = False, trust_remote_code: bool = False
) -> Adapter:
    for adapter in FAMILIES.values():
        if model_type in adapter.model_types:
            return adapter
    where = f" of {source}" if source else ""
    if custom_code and not trust_remote_code:
        raise UserError(
            f"model type {model_type!r}{where} needs its own code from the checkpoint; "
            "pass --trust-remote-code if you trust it"
        )
    known = sorted(t for a in FAMILIES.values() for t in a.model_types)
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
