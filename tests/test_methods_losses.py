"""Each loss against a value computed by hand (or in closed form) on small tensors."""

import math

import pytest
import torch

from clearbench.methods.base import (
    answer_entropy,
    answer_kl,
    mean_or_zero,
    nll,
    sequence_logprob,
    sequence_nll,
    token_nll,
)
from clearbench.methods.dpo import dpo_loss
from clearbench.methods.npo import npo_loss
from clearbench.methods.simnpo import simnpo_loss
from clearbench.methods.undial import undial_loss

X = -100  # ignored label


def logits_from_probs(*rows):
    """[1, T, V] logits whose softmax at each position is the given probability row."""
    return torch.tensor([rows], dtype=torch.float).log()


# Position t predicts labels[t + 1]; only positions predicting a supervised label count.
LABELS = torch.tensor([[X, X, 0, 1]])  # positions 1 and 2 predict tokens 0 and 1
PROBS = ([0.9, 0.05, 0.05], [0.25, 0.5, 0.25], [0.1, 0.6, 0.3], [1 / 3, 1 / 3, 1 / 3])


def test_token_nll_and_sequence_terms_by_hand():
    logits = logits_from_probs(*PROBS)
    expected = [0.0, -math.log(0.25), -math.log(0.6)]
    assert token_nll(logits, LABELS)[0].tolist() == pytest.approx(expected, rel=1e-5)
    assert nll(logits, LABELS).item() == pytest.approx((math.log(4) + -math.log(0.6)) / 2, rel=1e-5)
    assert sequence_logprob(logits, LABELS).item() == pytest.approx(math.log(0.25 * 0.6), rel=1e-5)
    assert sequence_nll(logits, LABELS).item() == pytest.approx(-math.log(0.25 * 0.6) / 2, rel=1e-5)


def test_nll_is_token_mean_over_the_batch_not_mean_of_rows():
    logits = torch.zeros(2, 4, 2)  # uniform: every token costs ln 2
    logits[1, 2] = torch.tensor([0.0, math.log(3)])  # p(token 1) = 3/4 at row 1, position 2
    labels = torch.tensor([[X, 1, 1, 1], [X, X, X, 1]])
    total = 3 * math.log(2) + -math.log(0.75)
    assert nll(logits, labels).item() == pytest.approx(total / 4, rel=1e-5)


def test_answer_kl_by_hand_and_only_on_answer_positions():
    student = logits_from_probs([0.5, 0.5], [0.25, 0.75], [0.5, 0.5])
    reference = logits_from_probs([0.01, 0.99], [0.5, 0.5], [0.5, 0.5])
    labels = torch.tensor([[X, X, 1]])  # only position 1 is an answer position
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert answer_kl(reference, student, labels).item() == pytest.approx(expected, rel=1e-5)
    # KL(p_ref ‖ p_θ), not the reverse
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert not math.isclose(expected, reverse, rel_tol=1e-3)


def test_answer_kl_skips_tokens_the_reference_rules_out():
    # p_ref = (0, 1): the ruled-out token (−inf logit) adds 0·log 0 = 0, not NaN
    reference = torch.tensor([[[-math.inf, 0.0], [0.0, 0.0]]])
    student = logits_from_probs([0.25, 0.75], [0.5, 0.5])
    labels = torch.tensor([[X, 1]])  # position 0 predicts the answer token
    assert answer_kl(reference, student, labels).item() == pytest.approx(-math.log(0.75), rel=1e-5)


def test_answer_kl_is_zero_when_student_equals_reference():
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[X, X, 3, 4, 1], [X, 2, 2, X, X]])
    assert answer_kl(logits, logits.clone(), labels).item() == pytest.approx(0.0, abs=1e-6)


def test_answer_entropy_by_hand():
    logits = logits_from_probs([1.0, 0.0, 0.0, 0.0], [0.25] * 4, [0.5, 0.5, 0.0, 0.0])
    labels = torch.tensor([[X, 0, 2]])  # positions 0 (entropy 0, with −inf logits) and 1 (ln 4)
    assert answer_entropy(logits, labels).item() == pytest.approx(math.log(4) / 2)
    labels = torch.tensor([[X, X, 2]])  # the last position never predicts a token
    assert answer_entropy(logits, labels).item() == pytest.approx(math.log(4))


def test_dpo_against_closed_form():
    beta = 0.1
    chosen, rejected = torch.tensor([-2.0]), torch.tensor([-3.0])
    ref_chosen, ref_rejected = torch.tensor([-2.5]), torch.tensor([-2.5])
    # margin = (−2 + 2.5) − (−3 + 2.5) = 1 → −log σ(0.1) = log(1 + e^−0.1)
    expected = math.log(1 + math.exp(-0.1))
    assert dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta).item() == pytest.approx(expected)
    # at the start (policy == reference) DPO is log 2 whatever the likelihoods
    assert dpo_loss(chosen, rejected, chosen, rejected, beta).item() == pytest.approx(math.log(2))


def test_npo_against_closed_form_on_sequence_likelihoods():
    beta, p, p_ref = 0.5, 0.2, 0.5
    expected = 2 / beta * math.log(1 + (p / p_ref) ** beta)
    got = npo_loss(torch.tensor([math.log(p)]), torch.tensor([math.log(p_ref)]), beta)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # log space: a ratio of 1e300 would overflow as a probability ratio but not here
    huge = npo_loss(torch.tensor([690.0]), torch.tensor([0.0]), 1.0)
    assert huge.item() == pytest.approx(2 * 690.0, rel=1e-6)


def test_simnpo_against_closed_form():
    beta, gamma, mean_nll = 2.5, 0.5, 1.0
    # the authors' code: the margin inside β·(ℓ/|y| − γ)
    sigmoid = 1 / (1 + math.exp(-beta * (mean_nll - gamma)))
    expected = -2 / beta * math.log(sigmoid)
    assert simnpo_loss(torch.tensor([mean_nll]), beta, gamma).item() == pytest.approx(expected)
    # the loss falls as the forget NLL rises (the direction that forgets)
    assert simnpo_loss(torch.tensor([3.0]), beta, gamma) < simnpo_loss(torch.tensor([1.0]), beta, gamma)


def test_undial_by_hand():
    # reference uniform over 2 tokens, true token 0 lowered by γ = ln 3 → target q = (1/4, 3/4)
    reference = torch.zeros(1, 2, 2)
    student = logits_from_probs([0.5, 0.5], [0.25, 0.75])
    labels = torch.tensor([[X, 0]])
    expected = -(0.25 * math.log(0.5) + 0.75 * math.log(0.5))
    assert undial_loss(reference, student, labels, math.log(3)).item() == pytest.approx(expected)
    student = logits_from_probs([0.4, 0.6], [0.5, 0.5])  # position 0 predicts the answer token
    expected = -(0.25 * math.log(0.4) + 0.75 * math.log(0.6))
    assert undial_loss(reference, student, labels, math.log(3)).item() == pytest.approx(expected)


def test_no_answer_tokens_give_a_zero_with_a_gradient_path():
    logits = torch.randn(2, 4, 5, requires_grad=True)
    reference = torch.randn(2, 4, 5)
    labels = torch.full((2, 4), X)
    for loss in (
        answer_kl(reference, logits, labels),
        answer_entropy(logits, labels),
        undial_loss(reference, logits, labels, 10.0),
        mean_or_zero(logits[:, :0] ** 2),  # RMU's activation MSE over no positions
    ):
        assert loss.item() == 0.0 and loss.requires_grad
        logits.grad = None
        loss.backward()
        assert logits.grad is not None and bool((logits.grad == 0).all())
    # −inf logits (a token ruled out) do not turn the zero into a NaN
    ruled_out = logits_from_probs([1.0, 0.0], [0.5, 0.5]).requires_grad_()
    assert answer_entropy(ruled_out, torch.tensor([[X, X]])).item() == 0.0
    assert mean_or_zero(torch.tensor([1.0, 3.0])).item() == 2.0
