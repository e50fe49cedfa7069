"""Gradient ascent: maximise the NLL of the forget answers.

    L = −NLL(F)

Source: Jang et al. 2023 ("Knowledge Unlearning…"); CLEAR (Dontsov et al. 2025, §3.2).
"""

from __future__ import annotations

from clearbench.methods.base import Method, model_nll, register


@register
class GradientAscent(Method):
    name = "ga"
    description = "gradient ascent on the forget set: −NLL(F)"
    source = "Jang et al. 2023; Dontsov et al. 2025 (CLEAR)"
    needs = frozenset({"forget"})

    def loss(self, model, batch, ref, step):
        forget = batch["forget"]
        forget_nll = model_nll(model, forget)
        return -forget_nll, {"forget_nll": forget_nll.item()}
