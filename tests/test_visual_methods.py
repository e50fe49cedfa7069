"""Each visual unlearning loss pinned to a hand-computed value on a two-row batch.

The stand-in embedder is the identity on 2-pixel images (x → x, a scalar weight 1 in the graph); the
original model doubles (x → 2x); the AM-Softmax head's classes point along the two axes. The forget
row is x_f = (0, ln 3) with label 0, the retain row x_r = (1, 0) with label 0.
"""

import math

import pytest
import torch
from torch import nn

from clearbench.errors import UserError
from clearbench.visual.methods import METHODS, Models, get_method
from clearbench.visual.model import AMSoftmaxHead

LN3 = math.log(3)


class Scaled(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = nn.Parameter(torch.tensor(factor))
        self.dim = 2

    def forward(self, x):
        return self.factor * x.flatten(1)


def head() -> AMSoftmaxHead:
    h = AMSoftmaxHead(2, 2)
    h.weight.data = torch.eye(2) * 3.0  # scale must not matter: the head normalises its weights
    return h


def batch():
    x = torch.tensor([[0.0, LN3], [1.0, 0.0]]).view(2, 1, 1, 2)
    return x, torch.tensor([0, 0]), torch.tensor([True, False])


def models(retain_classes=(1,)) -> Models:
    original = Scaled(2.0).requires_grad_(False)
    return Models(Scaled(1.0), head(), original, head().requires_grad_(False), torch.tensor(retain_classes))


def loss_of(name, **hparams):
    method, m = get_method(name, hparams), models()
    method.prepare(m, torch.Generator().manual_seed(0))
    return method, m, method.loss(m, *batch())


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def softmax(v):
    e = [math.exp(x) for x in v]
    return [x / sum(e) for x in e]


# AM-Softmax CE of the retain row: cos (1, 0) → logits 30·(1 − 0.4, 0); forget row: cos (0, 1)
CE_RETAIN = math.log(1 + math.exp(-18))
CE_FORGET = math.log(1 + math.exp(30 - (-12)))  # logits (30·(0 − 0.4), 30·1) = (−12, 30), label 0
KL_FORGET = kl(softmax([0, 2 * LN3]), softmax([0, LN3]))  # (0.1, 0.9) vs (0.25, 0.75)
KL_RETAIN = kl(softmax([2, 0]), softmax([1, 0]))


def test_am_softmax_head_value_and_normalised_weights():
    h = head()
    embeddings = torch.tensor([[1.0, 1.0]])
    # cos (0.7071, 0.7071); label 0: logits 30·(0.7071 − 0.4, 0.7071) → CE = ln(1 + e^12)
    assert h.loss(embeddings, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(12)), rel=1e-5)


def test_retain_ft_neggrad_and_sparsity():
    assert loss_of("retain_ft")[2].item() == pytest.approx(CE_RETAIN, abs=1e-7)
    assert loss_of("neggrad")[2].item() == pytest.approx(CE_RETAIN - CE_FORGET, rel=1e-5)
    # α · |θ|₁ over the embedder's weights (one weight, 1.0)
    assert loss_of("sparsity", alpha=0.5)[2].item() == pytest.approx(CE_RETAIN + 0.5, rel=1e-5)


def test_scrub_kl_over_embeddings():
    assert KL_FORGET == pytest.approx(0.1 * math.log(0.4) + 0.9 * math.log(1.2))
    expected = -KL_FORGET + KL_RETAIN + CE_RETAIN
    assert loss_of("scrub")[2].item() == pytest.approx(expected, rel=1e-5)


def test_scrub_bio_cosine_embedding_loss():
    # student and original are parallel on both rows: retain 1 − cos = 0, forget max(0, cos) = 1
    assert loss_of("scrub_bio")[2].item() == pytest.approx(0.5)


def test_twins_flipped_forget_and_retain_term():
    # forget: f(x_f) = (0, ln3), f_orig(flip x_f) = (2 ln3, 0): MSE (4 + 1)·ln3²/2; retain: ((1 − 2)² + 0)/2
    forget_term, retain_term = 5 * LN3**2 / 2, 0.5
    assert loss_of("twins")[2].item() == pytest.approx(forget_term + retain_term, rel=1e-6)
    assert loss_of("twins", retain_weight=0.0)[2].item() == pytest.approx(forget_term, rel=1e-6)  # official


def test_llmu_terms():
    # random labels drawn from the retain classes: here only class 1, so the forget row's label is 1
    ce_forget_random = math.log(1 + math.exp(-12 - 30 * (1 - 0.4)))  # logits (−12, 30·(1−0.4)), label 1
    expected = -0.02 * CE_FORGET + KL_RETAIN + 0.01 * ce_forget_random
    assert loss_of("llmu")[2].item() == pytest.approx(expected, rel=1e-5)


def test_rmu_control_vector_and_retain_term():
    method, _, value = loss_of("rmu")
    control = method.control.tolist()
    assert all(-2 <= c <= 2 for c in control)  # c · U(−1, 1), c = 2
    forget_term = ((0 - control[0]) ** 2 + (LN3 - control[1]) ** 2) / 2
    assert value.item() == pytest.approx(forget_term + 0.5, rel=1e-5)


def test_dpo_is_ln2_at_the_start_and_falls_as_retain_beats_forget():
    method, m, value = loss_of("dpo")
    # the policy starts as the original head but on the student's embeddings; cosines do not see
    # the doubling, so both log ratios are 0 and the loss is −log σ(0) = ln 2
    assert value.item() == pytest.approx(math.log(2), rel=1e-6)
    method.policy.weight.data = torch.tensor([[3.0, -1.0], [0.0, 3.0]])
    x, y, forget = batch()
    log_policy = torch.log_softmax(method.policy.logits(x.flatten(1)), 1)
    log_ref = torch.log_softmax(head().logits(2 * x.flatten(1)), 1)
    ratio = (log_policy - log_ref)[:, 0]
    expected = -math.log(1 / (1 + math.exp(-(ratio[1] - ratio[0]).item())))
    assert method.loss(m, x, y, forget).item() == pytest.approx(expected, rel=1e-5)
    assert ratio[1] > ratio[0] and expected < math.log(2)


def test_every_loss_has_a_gradient_and_hparams_are_checked():
    for name in METHODS:
        method, m, value = loss_of(name)
        value.backward()
        assert m.embedder.factor.grad is not None, name
    with pytest.raises(UserError, match="hparams.scrub.gamma"):
        get_method("scrub", {"gamma": 1})
    with pytest.raises(UserError, match="hparams.rmu.epochs"):
        get_method("rmu", {"epochs": "many"})


def test_official_defaults():
    assert (get_method("scrub_bio").learning_rate, get_method("scrub_bio").balance) == (0.2, 5)
    assert (get_method("twins").batch_size, get_method("twins").learning_rate) == (128, 0.4)
    assert (get_method("sparsity").batch_size, get_method("sparsity").alpha) == (32, 1e-4)
    assert get_method("rmu").epochs == 3 and get_method("dpo").beta == 1.0
