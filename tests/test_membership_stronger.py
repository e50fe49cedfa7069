"""Stronger membership attacks against hand-computed values: GradNorm of a tiny linear model, exact
memorization and extraction strength of planted greedy hits, the reference-model score and its AUC."""

import numpy as np
import pytest
import torch

from clearbench.data.format import Sample
from clearbench.errors import UserError
from clearbench.evaluate import membership, memorization
from clearbench.evaluate.gradnorm import gradnorm_scores
from clearbench.evaluate.scoring import _sequence_nll
from clearbench.evaluate.stronger import stronger_membership

VOCAB, WIDTH = 5, 3


class LinearLM(torch.nn.Module):
    """logits of token x = W·E[x] + b, E a fixed embedding (a buffer: not differentiated)."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("embedding", torch.randn(VOCAB, WIDTH, generator=generator, dtype=torch.float64))
        self.weight = torch.nn.Parameter(torch.randn(VOCAB, WIDTH, generator=generator, dtype=torch.float64))
        self.bias = torch.nn.Parameter(torch.randn(VOCAB, generator=generator, dtype=torch.float64))

    def forward(self, input_ids, attention_mask=None):
        logits = self.embedding[input_ids] @ self.weight.T + self.bias
        return type("Output", (), {"logits": logits})()


class TwoTokenAdapter:
    """A sample "x" with answer "y": input [x, y], only y supervised (predicted from x)."""

    def encode(self, processor, samples):
        (sample,) = samples
        x, y = int(sample.question), int(sample.answer)
        return {
            "input_ids": torch.tensor([[x, y]]),
            "attention_mask": torch.ones(1, 2, dtype=torch.long),
            "labels": torch.tensor([[-100, y]]),
        }


def test_gradnorm_is_the_mean_of_hand_gradient_norms_over_parameter_tensors():
    model = LinearLM()
    model.weight.requires_grad_(False)  # frozen before: differentiated all the same, then frozen again
    scores = gradnorm_scores(model, TwoTokenAdapter(), None, [Sample("1", "3"), Sample("4", "0")])
    for score, (x, y) in zip(scores, [(1, 3), (4, 0)]):
        # Cross-entropy of softmax(W e + b) at y: dL/db = p − onehot(y), dL/dW = (p − onehot(y)) eᵀ.
        e = model.embedding[x].numpy()
        z = model.weight.detach().numpy() @ e + model.bias.detach().numpy()
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        residual = p - np.eye(VOCAB)[y]
        grad_w, grad_b = np.outer(residual, e), residual
        expected = -(np.linalg.norm(grad_w) + np.linalg.norm(grad_b)) / 2  # mean over 2 tensors
        assert score == pytest.approx(expected, rel=1e-6)  # float32 loss
    assert model.weight.requires_grad is False and model.bias.requires_grad is True
    assert model.weight.grad is None and model.bias.grad is None  # .grad left untouched


@pytest.mark.parametrize(
    "hits, em, es",
    [
        ([1, 1, 1, 1], 1.0, 1.0),
        ([0, 1, 1, 1], 0.75, 0.75),  # k* = 1: from the second token on, all follow
        ([1, 0, 1, 1], 0.75, 0.5),
        ([1, 1, 1, 0], 0.75, 0.0),  # the last token missed: no suffix follows (OpenUnlearning: 1/4)
        ([0, 0, 0, 0], 0.0, 0.0),
    ],
)
def test_exact_memorization_and_extraction_strength_of_planted_hits(hits, em, es):
    assert memorization.exact_memorization(hits) == em
    assert memorization.extraction_strength(hits) == es


def test_greedy_hits_come_from_the_argmax_of_the_scoring_logits():
    # Planted: the answer 2, 4, 1 after a prompt token; the logits favour 2, then 0 (a miss), then 1.
    labels = torch.tensor([[-100, 2, 4, 1]])
    logits = torch.full((1, 4, VOCAB), -5.0)
    for position, favourite in enumerate([2, 0, 1]):
        logits[0, position, favourite] = 5.0
    (answer,) = _sequence_nll(logits, labels)
    assert answer.token_hits == (True, False, True)
    values = memorization.sample_values(answer.token_hits)
    assert values == {"exact_memorization": pytest.approx(2 / 3), "extraction_strength": pytest.approx(1 / 3)}
    with pytest.raises(ValueError):
        memorization.exact_memorization([])


def _log(task, losses, holdout=False, **more):
    log = {"task": task, "holdout": holdout, "avg_gt_loss": {str(i): v for i, v in enumerate(losses)}}
    return log | {key: {str(i): v for i, v in enumerate(values)} for key, values in more.items()}


def test_reference_score_auc_and_privleak_by_hand():
    model = {
        "forget_qa": _log("forget_qa", [0.25, 0.5, 0.75], exact_memorization=[1.0, 0.5, 0.0]),
        "tofu_holdout": _log("tofu_holdout", [1.0, 0.5], True, exact_memorization=[0.0, 0.5]),
    }
    base = {
        "forget_qa": _log("forget_qa", [1.0, 1.0, 1.0]),
        "tofu_holdout": _log("tofu_holdout", [1.25, 0.25], True),
    }
    gold = {
        "forget_qa": _log("forget_qa", [0.75, 1.0, 0.5], exact_memorization=[0.0, 0.0, 0.5]),
        "tofu_holdout": _log("tofu_holdout", [1.0, 0.5], True, exact_memorization=[0.0, 0.5]),
    }
    # Reference scores (base loss − model loss): forget .75, .5, .25; holdout .25, −.25.
    assert membership.reference_scores(model["forget_qa"], base["forget_qa"]) == [0.75, 0.5, 0.25]
    found = stronger_membership(model, gold, "forget_qa", "tofu_holdout", reference=base)
    reference = found["attacks"]["reference"]
    # forget beats holdout in 5 of 6 pairs, .25 vs .25 ties (½): AUC = 5.5 / 6.
    assert reference["auc"] == pytest.approx(5.5 / 6)
    # gold: forget .25, 0, .5 vs holdout .25, −.25: ½ + 1 + 1 + 2 = 4.5 of 6.
    assert reference["gold_auc"] == pytest.approx(4.5 / 6)
    assert reference["privleak"] == pytest.approx(((1 - 5.5 / 6) - (1 - 4.5 / 6)) / (1 - 4.5 / 6))
    assert reference["auc_gap"] == pytest.approx(1 / 6)
    # Exact memorization as a score, forget 1, .5, 0 vs holdout 0, .5:
    # 1>0, 1>.5, .5>0, .5=.5 (½), 0=0 (½), 0<.5 → 4 of 6.
    assert found["attacks"]["exact_memorization"]["auc"] == pytest.approx(4 / 6)
    assert found["memorization"]["exact_memorization"] == pytest.approx(
        {"forget": 0.5, "holdout": 0.25, "gold_forget": 0.5 / 3}
    )
    # What the logs lack is said, not invented.
    assert "membership_gradnorm" in found["attacks"]["gradnorm"]["reason"]
    assert "reason" in found["attacks"]["extraction_strength"]
    assert (
        "no reference"
        in stronger_membership(model, gold, "forget_qa", "tofu_holdout")["attacks"]["reference"]["reason"]
    )


def test_a_reference_log_of_other_rows_is_refused():
    with pytest.raises(UserError, match="other rows"):
        membership.reference_scores(_log("forget_qa", [0.1, 0.2]), _log("forget_qa", [0.3]))
