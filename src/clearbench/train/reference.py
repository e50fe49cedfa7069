"""The frozen starting model that KL, DPO, NPO, SCRUB, RMU, … compare against.

With LoRA the reference is the trained model itself with its adapters switched off (no second copy
of the weights); without LoRA it is a frozen deep copy taken before training starts. Either way its
outputs carry no gradient and are computed in eval mode, and a reference pass leaves the live model's
training state (train mode, every parameter's requires_grad) as it found it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from clearbench.models.base import unwrap
from clearbench.models.forward import capture_output, forward_logits


def _peft_model(model: nn.Module) -> nn.Module | None:
    """The PEFT wrapper inside a (possibly DDP-wrapped) model, or None without LoRA."""
    while not hasattr(model, "disable_adapter"):
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return None
        model = inner
    return model


class Reference:
    """Frozen outputs of the starting model: `logits(enc)` and `layer_output(enc, index)`."""

    def __init__(self, model: nn.Module, adapter, *, copy_model: nn.Module | None = None):
        self.adapter = adapter
        self._live = model
        self.model = copy_model  # the frozen copy, or None when the reference is "adapters off"

    @classmethod
    def for_model(cls, model: nn.Module, adapter) -> Reference:
        """Adapters-off view for a LoRA model; a frozen copy otherwise (call before training)."""
        if _peft_model(model) is not None:
            return cls(model, adapter)
        frozen = copy.deepcopy(unwrap(model)).eval()
        for param in frozen.parameters():
            param.requires_grad_(False)
        return cls(model, adapter, copy_model=frozen)

    @property
    def shares_weights(self) -> bool:
        return self.model is None

    @contextmanager
    def _frozen(self) -> Iterator[nn.Module]:
        if self.model is not None:
            with torch.no_grad():
                yield self.model
            return
        peft_model = _peft_model(self._live)
        was_training = peft_model.training
        # peft switches adapters back on by marking *every* adapter weight trainable again, which
        # would undo a method's choice (RMU trains the adapters of a few layers only)
        trainable = [(param, param.requires_grad) for param in peft_model.parameters()]
        peft_model.eval()
        try:
            with torch.no_grad(), peft_model.disable_adapter():
                yield peft_model
        finally:
            peft_model.train(was_training)
            for param, requires_grad in trainable:
                param.requires_grad_(requires_grad)

    def logits(self, enc: dict) -> torch.Tensor:
        with self._frozen() as model:
            return forward_logits(model, enc)

    def layer_output(self, enc: dict, index: int) -> torch.Tensor:
        """Hidden states returned by decoder layer `index`, [B, T, H]."""
        with self._frozen() as model:
            with capture_output(self.adapter.decoder_layers(model)[index]) as store:
                forward_logits(model, enc)
        return store["output"]

    def to(self, device) -> Reference:
        if self.model is not None:
            self.model.to(device)
        return self
