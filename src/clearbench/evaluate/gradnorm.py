"""GradNorm membership score: how hard one answer pulls on the weights.

For an answer y given its prompt x, L = −(1/T) Σ_t log p(y_t | x, y_<t) (the mean NLL that scoring
logs as `avg_gt_loss`), and for each parameter tensor θ_i of the model (i = 1..n, those that take
part in the forward pass) its gradient g_i = ∂L/∂θ_i:

    GradNorm = −(1/n) Σ_i ‖g_i‖_2

the mean over parameter TENSORS of each tensor's L2 norm (not the norm of the concatenated
gradient), negated so that higher = member: a trained-on row sits near a minimum of its loss and
pulls less. This is the definition of Duan et al. 2024 ("Do membership inference attacks work on
large language models?", arXiv 2402.17012, the MIMIR code) that OpenUnlearning's `gradnorm` attack
also uses (p = 2, its default).

Cost: one forward and one backward pass per row (batch of one, so no row's gradient mixes with
another's) and room for one full gradient: a few times a scoring pass. It is therefore opt-in
(`eval.membership_gradnorm`). Every floating-point parameter is differentiated, as in the source;
`torch.autograd.grad` returns the gradients without touching `.grad`, and each parameter's
`requires_grad` is restored afterwards, so a model shared with training is left as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from clearbench.data.format import Sample
from clearbench.evaluate.membership import GRADNORM_LOG_KEY as LOG_KEY
from clearbench.evaluate.scoring import model_inputs
from clearbench.models.base import IGNORE_INDEX

__all__ = ["LOG_KEY", "answer_loss", "gradnorm_scores", "mean_tensor_norm"]


def answer_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token NLL over the supervised (non-ignored) positions of a batch of one."""
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE_INDEX
    )


def mean_tensor_norm(gradients: Sequence[torch.Tensor | None]) -> float:
    """(1/n) Σ_i ‖g_i‖_2 over the tensors that received a gradient (None: not in the forward pass)."""
    norms = [gradient.detach().float().norm(2) for gradient in gradients if gradient is not None]
    if not norms:
        raise ValueError("no parameter received a gradient")
    return float(torch.stack(norms).mean())


def gradnorm_scores(model, adapter, processor, samples: Sequence[Sample]) -> list[float]:
    """−mean_i ‖∂L/∂θ_i‖_2 of each sample's answer (`sample.answer`), one row at a time."""
    parameters = [parameter for parameter in model.parameters() if parameter.is_floating_point()]
    wanted = [parameter.requires_grad for parameter in parameters]
    scores = []
    try:
        for parameter in parameters:
            parameter.requires_grad_(True)
        for sample in samples:
            batch = model_inputs(adapter.encode(processor, [sample]), model)
            labels = batch.pop("labels")
            with torch.enable_grad():
                loss = answer_loss(model(**batch).logits, labels)
                gradients = torch.autograd.grad(loss, parameters, allow_unused=True)
            scores.append(-mean_tensor_norm(gradients))
    finally:
        for parameter, flag in zip(parameters, wanted):
            parameter.requires_grad_(flag)
    return scores
