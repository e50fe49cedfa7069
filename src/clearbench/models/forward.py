"""Forward helpers any layer may use: a batch's logits, and a layer's hidden states on the way.

They live with the models, below both the unlearning methods (their losses) and the engine (the
reference model, saliency), so neither has to import the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def forward_logits(model: nn.Module, enc: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits for a batch, without letting the model compute its own loss."""
    inputs = {key: value for key, value in enc.items() if key != "labels"}
    return model(**inputs, use_cache=False).logits


@contextmanager
def capture_output(module: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Record the hidden states a module (a decoder layer) returns during the next forward."""
    store: dict[str, torch.Tensor] = {}

    def hook(_module, _args, output):
        store["output"] = output[0] if isinstance(output, tuple) else output

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()
