"""Sizes shared by the tiny random models of the other families (not tiny-llava, which the default run uses)."""

from __future__ import annotations


def vision_dims(image_size: int, patch: int, **extra) -> dict:
    """The ViT-style vision tower of the other families' tiny models (`extra`: e.g. its model_type)."""
    return dict(
        **extra,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch,
    )


def decoder_dims(hidden: int = 64, layers: int = 2) -> dict:
    """Decoder sizes of the other families' tiny models: heads of 16 dimensions (4 at the default
    width), half as many key/value heads, an MLP twice as wide. Benchmarks widen and deepen them."""
    if hidden % 32:
        raise ValueError(f"hidden size {hidden} is not a multiple of 32")
    return dict(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 16,
        num_key_value_heads=hidden // 32,
    )
