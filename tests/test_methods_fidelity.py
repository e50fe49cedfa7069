"""Each method's loss on a tiny model that has moved away from its reference (π ≠ π_ref), against the
formula computed by hand from the raw logits and hidden states of the two models.

At π = π_ref many wrong methods give the right value (every KL is 0 whichever its direction or data,
NPO and DPO are log 2 whatever their normalisation, RMU's retain term is 0 whatever its sign), so
these tests perturb the weights (or LoRA adapters) first. The hand computations below use nothing
from `clearbench.methods`: float64 log-softmaxes of the logits, explicit loops over answer
positions, and the formulas as written in each method's paper / docstring.
"""

import copy
import math

import pytest
import torch
from PIL import Image

from clearbench.data.format import CAPTION_QUESTIONS, Sample
from clearbench.errors import UserError
from clearbench.methods import get_method
from clearbench.models.llava import LlavaAdapter
from clearbench.models.tiny import TinySize, build_tiny_llava
from clearbench.train.lora import apply_lora
from clearbench.train.reference import Reference

SIZE = TinySize(
    image_size=16,
    patch_size=8,
    vision_hidden=32,
    vision_layers=1,
    hidden=32,
    layers=4,
    heads=2,
    vocab_size=1000,
)
ANSWERS = [
    "Alice Smith holds a red umbrella by the river",
    "Bob Marten wrote The Long Night in 1990",
    "Carla Diaz paints blue boats at dawn",
    "Dmitri Ivanov plays chess",
    "I don't know.",
    "I have no idea about that one, sorry.",
    "Eve Stone sails",
]
K = 3  # SKU's mismatched answers per forget row


def image(color):
    return Image.new("RGB", (20, 20), color)


@pytest.fixture(scope="module")
def world():
    model, processor = build_tiny_llava(ANSWERS * 3 + list(CAPTION_QUESTIONS), SIZE, seed=0)
    with torch.no_grad():  # peaked next-token distributions, like a trained model's: a random
        model.lm_head.weight.mul_(30)  # model's are near uniform, where KL is nearly symmetric
    adapter = LlavaAdapter()
    forget = [
        Sample(CAPTION_QUESTIONS[0], ANSWERS[0], image((200, 0, 0))),
        Sample("Who wrote The Long Night?", ANSWERS[1]),
    ]
    retain = [
        Sample(CAPTION_QUESTIONS[1], ANSWERS[2], image((0, 0, 200))),
        Sample("What does Dmitri Ivanov play?", ANSWERS[3]),
    ]
    idk = [Sample(s.question, ANSWERS[4 + i], s.image) for i, s in enumerate(forget)]
    # group k holds the k-th mismatched answer of each forget row; answers of different lengths
    groups = [
        [Sample(s.question, ANSWERS[(2 * k + i + 1) % 7], s.image) for i, s in enumerate(forget)]
        for k in range(K)
    ]

    def encode(samples):
        return adapter.encode(processor, samples)

    batch = {
        "forget": encode(forget),
        "retain": encode(retain),
        "idk": encode(idk),
        "mismatch": encode([sample for group in groups for sample in group]),  # k-major, as collated
    }
    return model, adapter, batch, [encode(group) for group in groups]


def perturbed(model, scale=0.02, seed=1):
    """A trainable copy, its reference (taken first: the starting weights), then noise on every weight."""
    live = copy.deepcopy(model).train()
    ref = Reference.for_model(live, LlavaAdapter())
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in live.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * scale)
    return live, ref


# ---- the hand computations ------------------------------------------------------------------
def inputs_of(enc):
    return {key: value for key, value in enc.items() if key != "labels"}


def log_probs(model, enc):
    """[B, T, V] float64 log-probabilities of the next token."""
    with torch.no_grad():
        return torch.log_softmax(model(**inputs_of(enc)).logits.double(), dim=-1)


def positions(enc):
    """(row, t, token): logit position t of the row predicts answer token `token`."""
    labels = enc["labels"]
    return [
        (b, t, int(labels[b, t + 1]))
        for b in range(labels.size(0))
        for t in range(labels.size(1) - 1)
        if labels[b, t + 1] != -100
    ]


def nll(model, enc):
    """Mean NLL over every answer token of the batch."""
    lp = log_probs(model, enc)
    values = [-lp[b, t, y].item() for b, t, y in positions(enc)]
    return sum(values) / len(values)


def sequence_logprobs(model, enc):
    """Per row: Σ_t log π(y_t | …), the summed log-probability of its answer."""
    lp = log_probs(model, enc)
    totals = [0.0] * enc["labels"].size(0)
    for b, t, y in positions(enc):
        totals[b] += lp[b, t, y].item()
    return totals


def answer_lengths(enc):
    counts = [0] * enc["labels"].size(0)
    for b, _, _ in positions(enc):
        counts[b] += 1
    return counts


def kl(p_model, q_model, enc):
    """Mean over answer positions of KL(p ‖ q) = Σ_v p (log p − log q)."""
    lp, lq = log_probs(p_model, enc), log_probs(q_model, enc)
    values = [(lp[b, t].exp() * (lp[b, t] - lq[b, t])).sum().item() for b, t, _ in positions(enc)]
    return sum(values) / len(values)


def entropy(model, enc):
    lp = log_probs(model, enc)
    values = [-(lp[b, t].exp() * lp[b, t]).sum().item() for b, t, _ in positions(enc)]
    return sum(values) / len(values)


def layer_output(model, enc, index):
    """[B, T, H] output of decoder layer `index` (hidden_states[0] is the embedding output)."""
    with torch.no_grad():
        return model(**inputs_of(enc), output_hidden_states=True).hidden_states[index + 1].double()


def logsigmoid(x):
    return -math.log1p(math.exp(-x)) if x > 0 else x - math.log1p(math.exp(x))


# ---- the methods ------------------------------------------------------------------------------
def loss_of(name, live, ref, batch, adapter, logged=None, **hparams):
    """The method's loss; `logged`: the values it must log beside it ({name: hand value})."""
    method = get_method(name, **hparams)
    method.prepare(live, adapter)
    with torch.no_grad():
        loss, extras = method.loss(live, {kind: batch[kind] for kind in method.needs}, ref, 0)
    if logged is not None:
        assert extras == pytest.approx(logged, rel=1e-4), name
    return loss.item()


def test_the_perturbation_makes_the_reference_differ(world):
    model, _, batch, _ = world
    live, _ = perturbed(model)
    forward, backward = kl(model, live, batch["retain"]), kl(live, model, batch["retain"])
    assert forward > 0.01 and abs(forward - backward) > 0.1 * forward  # KL's direction matters
    assert nll(live, batch["retain"]) != pytest.approx(nll(model, batch["retain"]), rel=1e-3)


def test_ga_gd_kl_idk_retain_ft(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R, IDK = batch["forget"], batch["retain"], batch["idk"]
    got = lambda name, logged, **h: loss_of(name, live, ref, batch, adapter, logged, **h)  # noqa: E731
    forget_nll, retain_nll, idk_nll, retain_kl = (
        nll(live, F),
        nll(live, R),
        nll(live, IDK),
        kl(model, live, R),
    )
    assert got("ga", {"forget_nll": forget_nll}) == pytest.approx(-forget_nll, rel=1e-4)
    assert got("retain_ft", {"retain_nll": retain_nll}) == pytest.approx(retain_nll, rel=1e-4)
    logged = {"retain_nll": retain_nll, "idk_nll": idk_nll}
    assert got("idk", logged) == pytest.approx(retain_nll + idk_nll, rel=1e-4)
    logged = {"forget_nll": forget_nll, "retain_kl": retain_kl}
    assert got("kl", logged) == pytest.approx(-forget_nll + retain_kl, rel=1e-4)
    beta = 0.7
    forget_terms = {"nll": forget_nll, "entropy": entropy(live, F), "kl": kl(model, live, F)}
    retain_terms = {"nll": retain_nll, "kl": retain_kl}
    for forget_term, forget_value in forget_terms.items():
        for retain_term, retain_value in retain_terms.items():
            logged = {f"forget_{forget_term}": forget_value, f"retain_{retain_term}": retain_value}
            value = got("gd", logged, forget_term=forget_term, retain_term=retain_term, forget_weight=beta)
            assert value == pytest.approx(-beta * forget_value + retain_value, rel=1e-4), forget_term


def test_npo_on_summed_sequence_log_ratios(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    beta, retain_weight = 0.1, 0.5
    ratios = [a - b for a, b in zip(sequence_logprobs(live, F), sequence_logprobs(model, F))]
    npo = sum(2 / beta * math.log1p(math.exp(beta * r)) for r in ratios) / len(ratios)
    expected = npo + retain_weight * nll(live, R)
    logged = {"npo": npo, "forget_logprob": sum(sequence_logprobs(live, F)) / 2, "retain_nll": nll(live, R)}
    got = loss_of("npo", live, ref, batch, adapter, logged, beta=beta, retain_weight=retain_weight)
    assert got == pytest.approx(expected, rel=1e-4)
    assert get_method("npo").hparams.beta == 0.1  # NPO's code and OpenUnlearning


def test_simnpo_with_its_margin_inside_beta(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    means = [-lp / n for lp, n in zip(sequence_logprobs(live, F), answer_lengths(F))]
    # a margin near the answers' mean NLL keeps the sigmoid off its flat tail, where every variant
    # of the formula would give ~0
    beta, gamma, forget_weight, retain_weight = 0.5, sum(means) / 2 - 1.0, 0.25, 0.5
    simnpo = sum(-2 / beta * logsigmoid(beta * (m - gamma)) for m in means) / len(means)
    assert 0.1 < simnpo < 5
    expected = forget_weight * simnpo + retain_weight * nll(live, R)
    logged = {"simnpo": simnpo, "forget_nll": sum(means) / 2, "retain_nll": nll(live, R)}
    hparams = {"beta": beta, "gamma": gamma, "forget_weight": forget_weight, "retain_weight": retain_weight}
    assert loss_of("simnpo", live, None, batch, adapter, logged, **hparams) == pytest.approx(
        expected, rel=1e-4
    )
    defaults = get_method("simnpo").hparams  # the authors' forget10 run
    assert (defaults.beta, defaults.forget_weight, defaults.gamma, defaults.retain_weight) == (
        4.5,
        0.125,
        0,
        1,
    )


def test_dpo_on_summed_sequence_log_ratios(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, IDK, R = batch["forget"], batch["idk"], batch["retain"]
    beta, dpo_weight, task_weight, retain_weight = 0.1, 1.5, 0.5, 0.25
    chosen = [a - b for a, b in zip(sequence_logprobs(live, IDK), sequence_logprobs(model, IDK))]
    rejected = [a - b for a, b in zip(sequence_logprobs(live, F), sequence_logprobs(model, F))]
    dpo = sum(-logsigmoid(beta * (c - r)) for c, r in zip(chosen, rejected)) / len(chosen)
    expected = dpo_weight * dpo + task_weight * nll(live, IDK) + retain_weight * nll(live, R)
    hparams = {"dpo_weight": dpo_weight, "task_weight": task_weight, "retain_weight": retain_weight}
    logged = {"dpo": dpo, "idk_nll": nll(live, IDK), "retain_nll": nll(live, R)}
    assert loss_of("dpo", live, ref, batch, adapter, logged, **hparams) == pytest.approx(expected, rel=1e-4)


def test_llmu_weighs_forget_idk_and_the_retain_kl(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, IDK, R = batch["forget"], batch["idk"], batch["retain"]
    e1, e2, e3 = 0.5, 1.5, 2.0
    expected = -e1 * nll(live, F) + e2 * nll(live, IDK) + e3 * kl(model, live, R)
    hparams = {"forget_weight": e1, "idk_weight": e2, "retain_weight": e3}
    logged = {"forget_nll": nll(live, F), "idk_nll": nll(live, IDK), "retain_kl": kl(model, live, R)}
    assert loss_of("llmu", live, ref, batch, adapter, logged, **hparams) == pytest.approx(expected, rel=1e-4)


def test_scrub_max_and_min_steps(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    method = get_method("scrub", alpha=0.7, gamma=1.3)
    with torch.no_grad():
        max_loss, max_extras = method.loss(live, {"forget": F}, ref, 0)
        min_loss, min_extras = method.loss(live, {"retain": R}, ref, 1)
    assert max_extras == pytest.approx({"forget_kl": kl(model, live, F), "max_step": 1.0}, rel=1e-4)
    logged = {"retain_kl": kl(model, live, R), "retain_nll": nll(live, R), "max_step": 0.0}
    assert min_extras == pytest.approx(logged, rel=1e-4)
    assert max_loss.item() == pytest.approx(-kl(model, live, F), rel=1e-4)  # KL(teacher ‖ student)
    assert min_loss.item() == pytest.approx(0.7 * kl(model, live, R) + 1.3 * nll(live, R), rel=1e-4)


def test_undial_distils_toward_adjusted_reference_logits(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    gamma, retain_weight = 3.0, 0.5
    with torch.no_grad():
        ref_logits = model(**inputs_of(F)).logits.double()
    lp = log_probs(live, F)
    values = []
    for b, t, y in positions(F):
        adjusted = ref_logits[b, t].clone()
        adjusted[y] -= gamma
        q = torch.softmax(adjusted, dim=-1)
        values.append(-(q * lp[b, t]).sum().item())
    expected = sum(values) / len(values) + retain_weight * nll(live, R)
    logged = {"undial": sum(values) / len(values), "retain_nll": nll(live, R)}
    got = loss_of("undial", live, ref, batch, adapter, logged, gamma=gamma, retain_weight=retain_weight)
    assert got == pytest.approx(expected, rel=1e-4)


def test_sku_sums_k_mismatch_groups_and_maximises_the_retain_kl(world):
    model, adapter, batch, groups = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    e1, e2, e3 = 2.5, 1.5, 0.5
    mismatch = sum(nll(live, group) for group in groups)  # each group encoded on its own
    expected = e1 * nll(live, F) + e2 * mismatch - e3 * kl(model, live, R)
    hparams = {"distortion_weight": e1, "random_weight": e2, "preservation_weight": e3, "mismatches": K}
    logged = {"forget_nll": nll(live, F), "mismatch_nll": mismatch, "retain_kl": kl(model, live, R)}
    assert loss_of("sku", live, ref, batch, adapter, logged, **hparams) == pytest.approx(expected, rel=1e-4)


def control_vector(size, steering, seed):
    """c·u with u ~ U[0,1)^H from a generator seeded with `seed`, scaled to unit norm."""
    u = torch.rand(size, generator=torch.Generator().manual_seed(seed)).double()
    return steering * u / u.norm()


def test_rmu_wmdp_variant(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    layer, c, alpha = 2, 5.0, 30.0
    control = control_vector(SIZE.hidden, c, seed=4)
    hf, hr, hr_ref = layer_output(live, F, layer), layer_output(live, R, layer), layer_output(model, R, layer)
    forget = torch.stack([((hf[b, t] - control) ** 2).mean() for b, t, _ in positions(F)]).mean().item()
    retain = torch.stack([((hr[b, t] - hr_ref[b, t]) ** 2).mean() for b, t, _ in positions(R)]).mean().item()
    assert retain > 1e-4  # the perturbed model's retain activations have moved
    logged = {"forget_mse": forget, "retain_mse": retain}
    got = loss_of(
        "rmu", live, ref, batch, adapter, logged, variant="wmdp", layer=layer, steering=c, alpha=alpha, seed=4
    )
    assert got == pytest.approx(forget + alpha * retain, rel=1e-4)


def test_rmu_adaptive_c_is_scale_times_the_reference_forget_activation_norm(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    layer, scale = 2, 3.0
    # c from the reference (unperturbed) model's forget activations, not the live model's.
    hf_ref = layer_output(model, F, layer)
    c = scale * torch.stack([hf_ref[b, t].norm() for b, t, _ in positions(F)]).mean().item()
    live_norm = torch.stack([layer_output(live, F, layer)[b, t].norm() for b, t, _ in positions(F)]).mean()
    assert abs(live_norm.item() * scale - c) > 1e-3 * c  # the two models' norms differ
    control = control_vector(SIZE.hidden, c, seed=0)
    hf, hr, hr_ref = layer_output(live, F, layer), layer_output(live, R, layer), layer_output(model, R, layer)
    forget = torch.stack([((hf[b, t] - control) ** 2).mean() for b, t, _ in positions(F)]).mean().item()
    retain = torch.stack([((hr[b, t] - hr_ref[b, t]) ** 2).mean() for b, t, _ in positions(R)]).mean().item()
    logged = {"forget_mse": forget, "retain_mse": retain}
    method = get_method("rmu", layer=layer, scale=scale)
    method.prepare(live, adapter)
    with torch.no_grad():
        loss, extras = method.loss(live, batch, ref, 0)
    assert extras == pytest.approx(logged, rel=1e-4)
    assert loss.item() == pytest.approx(forget + 1200.0 * retain, rel=1e-4)
    assert method.info()["steering_used"] == pytest.approx(c, rel=1e-5)


def test_rmu_takes_a_fixed_c_or_a_scale_not_both():
    assert get_method("rmu").hparams.scale == 5.0  # adaptive by default (Dang et al.'s scale)
    assert get_method("rmu", variant="wmdp").hparams.steering == 6.5
    assert get_method("rmu", steering=2.0).hparams.scale is None  # a fixed c replaces the adaptive one
    with pytest.raises(UserError, match="not both"):
        get_method("rmu", steering=2.0, scale=3.0)


def test_rmu_clear_variant_compares_the_token_mean_with_c_u(world):
    model, adapter, batch, _ = world
    live, ref = perturbed(model)
    F, R = batch["forget"], batch["retain"]
    layer = 1
    method = get_method("rmu", variant="clear", layer=layer)
    h = method.hparams
    assert (h.steering, h.alpha, h.params, h.window) == (300.0, 1.0, ".*", 0)  # CLEAR's code
    control = control_vector(SIZE.hidden, 300.0, seed=0)
    hf, hr, hr_ref = layer_output(live, F, layer), layer_output(live, R, layer), layer_output(model, R, layer)
    rows = {}
    for b, t, _ in positions(F):
        rows.setdefault(b, []).append(hf[b, t])
    means = [torch.stack(vectors).mean(dim=0) for vectors in rows.values()]
    forget = torch.stack([((m - control) ** 2).mean() for m in means]).mean().item()
    retain = torch.stack([((hr[b, t] - hr_ref[b, t]) ** 2).mean() for b, t, _ in positions(R)]).mean().item()
    logged = {"forget_mse": forget, "retain_mse": retain}
    got = loss_of("rmu", live, ref, batch, adapter, logged, variant="clear", layer=layer)
    assert got == pytest.approx(forget + retain, rel=1e-4)


# ---- the same under LoRA: the reference is the base with adapters off -------------------------
@pytest.mark.parametrize("name", ["kl", "npo", "scrub", "sku", "rmu"])
def test_under_lora_the_reference_is_the_base_model(world, name):
    model, adapter, batch, groups = world
    live = apply_lora(copy.deepcopy(model), adapter, r=4, alpha=8)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():  # adapters away from zero: the live model differs from the base
        for param_name, param in live.named_parameters():
            if "lora_B" in param_name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    live.train()
    ref = Reference.for_model(live, adapter)
    F, R = batch["forget"], batch["retain"]
    if name == "kl":
        expected = -nll(live, F) + kl(model, live, R)
    elif name == "npo":
        ratios = [a - b for a, b in zip(sequence_logprobs(live, F), sequence_logprobs(model, F))]
        expected = sum(2 / 0.1 * math.log1p(math.exp(0.1 * r)) for r in ratios) / len(ratios)
    elif name == "scrub":
        expected = 1.0 * kl(model, live, R) + 1.0 * nll(live, R)
    elif name == "sku":
        expected = 2.5 * nll(live, F) + sum(nll(live, g) for g in groups) - 0.5 * kl(model, live, R)
    else:
        hr, hr_ref = layer_output(live, R, 1), layer_output(model, R, 1)
        hf_ref = layer_output(model, F, 1)  # adaptive c: measured on the base, adapters off
        c = 5.0 * torch.stack([hf_ref[b, t].norm() for b, t, _ in positions(F)]).mean().item()
        hf, control = layer_output(live, F, 1), control_vector(SIZE.hidden, c, seed=0)
        forget = torch.stack([((hf[b, t] - control) ** 2).mean() for b, t, _ in positions(F)]).mean().item()
        retain = torch.stack([((hr[b, t] - hr_ref[b, t]) ** 2).mean() for b, t, _ in positions(R)]).mean()
        expected = forget + 1200.0 * retain.item()
    method = get_method(name)
    method.prepare(live, adapter)
    part = {"retain": R} if name == "scrub" else {kind: batch[kind] for kind in method.needs}
    with torch.no_grad():
        loss, _ = method.loss(live, part, ref, 0)
    assert loss.item() == pytest.approx(expected, rel=1e-4)
