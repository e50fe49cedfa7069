"""Tiny random models of every family, for offline tests (no Hub): `build_tiny(family, texts, seed)`.

They live with the tests, not in the package: only `tiny-llava`, which the default run trains,
is built by clearbench itself (clearbench.models.tiny). Keywords such as `model_type`, `hidden`,
`layers` and the image geometry are the family's own (benchmarks/scoring_speed.py uses them).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import causal_lm, gemma3, idefics3, internvl, llava_onevision, qwen2_vl, qwen3_vl


def _tiny_llava(texts: Iterable[str], seed: int = 0):
    from clearbench.models.tiny import build_tiny_llava

    return build_tiny_llava(texts, seed=seed)


BUILDERS = {
    "llava": _tiny_llava,
    "causal_lm": causal_lm.build,
    "qwen2_vl": qwen2_vl.build,
    "qwen3_vl": qwen3_vl.build,
    "gemma3": gemma3.build,
    "idefics3": idefics3.build,
    "internvl": internvl.build,
    "llava_onevision": llava_onevision.build,
}


def build_tiny(family: str, texts: Iterable[str], seed: int = 0, **options):
    """(model, processor or tokenizer) of `family` with random weights; deterministic for a seed."""
    return BUILDERS[family](texts, seed=seed, **options)
