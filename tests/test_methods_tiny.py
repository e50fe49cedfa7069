"""Methods on a tiny random LLaVA: values at the start against closed forms, and a few optimiser
steps of each method move what it targets in the intended direction."""

import copy
import math

import pytest
import torch
from PIL import Image

from clearbench.data.format import CAPTION_QUESTIONS, Sample
from clearbench.errors import UserError
from clearbench.methods import METHODS, PAPER_METHODS, get_method
from clearbench.methods.base import (
    answer_entropy,
    answer_kl,
    answer_mask,
    forward_logits,
    nll,
    sequence_logprob,
)
from clearbench.models.llava import LlavaAdapter
from clearbench.models.tiny import TinySize, build_tiny_llava
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
    "Dmitri Ivanov plays chess in the park",
    "I don't know.",
    "I have no idea.",
]


def image(color):
    return Image.new("RGB", (20, 20), color)


@pytest.fixture(scope="module")
def world():
    torch.manual_seed(0)
    model, processor = build_tiny_llava(ANSWERS * 3 + list(CAPTION_QUESTIONS), SIZE, seed=0)
    adapter = LlavaAdapter()
    forget = [
        Sample(CAPTION_QUESTIONS[0], ANSWERS[0], image((200, 0, 0))),
        Sample("Who wrote The Long Night?", ANSWERS[1]),
    ]
    retain = [
        Sample(CAPTION_QUESTIONS[1], ANSWERS[2], image((0, 0, 200))),
        Sample("What does Dmitri Ivanov play?", ANSWERS[3]),
    ]
    encode = lambda samples: adapter.encode(processor, samples)  # noqa: E731
    batch = {
        "forget": encode(forget),
        "retain": encode(retain),
        "idk": encode([Sample(s.question, ANSWERS[4 + i], s.image) for i, s in enumerate(forget)]),
        # SKU's K = 3 mismatched answers per forget row, k-major (as the engine collates them)
        "mismatch": encode(
            [
                Sample(s.question, ANSWERS[(1 - i + 2 * k) % 4], s.image)
                for k in range(3)
                for i, s in enumerate(forget)
            ]
        ),
    }
    return model, adapter, batch


def fresh(world):
    """A trainable copy of the tiny model and a frozen reference of its starting weights."""
    model, adapter, batch = world
    live = copy.deepcopy(model).train()
    return live, Reference.for_model(live, adapter), adapter, batch


def forget_nll(model, batch, kind="forget"):
    with torch.no_grad():
        return nll(forward_logits(model, batch[kind]), batch[kind]["labels"]).item()


# ---- values at the start (student == reference) -------------------------------------------
def test_nll_matches_the_models_own_causal_lm_loss(world):
    model, _, batch = world
    enc = batch["forget"]
    with torch.no_grad():
        assert nll(forward_logits(model, enc), enc["labels"]).item() == pytest.approx(
            model(**enc).loss.item(), rel=1e-5
        )


@pytest.mark.parametrize(
    "name,hparams",
    [("kl", {}), ("llmu", {}), ("scrub", {}), ("gd", {"forget_term": "kl", "retain_term": "kl"})],
)
def test_kl_terms_are_zero_when_student_equals_reference(world, name, hparams):
    live, ref, adapter, batch = fresh(world)
    method = get_method(name, **hparams)
    with torch.no_grad():
        for kinds in method.passes(0):  # scrub: a max pass, then a min pass
            _, extras = method.loss(live, {kind: batch[kind] for kind in kinds}, ref, step=0)
            for key, value in extras.items():
                if key.endswith("_kl"):
                    assert value == pytest.approx(0.0, abs=1e-6), key
        if name == "scrub":
            _, extras = method.loss(live, {"forget": batch["forget"]}, ref, step=0)
            assert extras["max_step"] == 1.0 and extras["forget_kl"] == pytest.approx(0.0, abs=1e-6)


def test_kl_method_equals_minus_forget_nll_at_the_start(world):
    live, ref, _, batch = fresh(world)
    with torch.no_grad():
        loss, _ = get_method("kl").loss(live, batch, ref, 0)
    assert loss.item() == pytest.approx(-forget_nll(live, batch), abs=1e-5)


def test_npo_and_dpo_closed_forms_at_the_start(world):
    live, ref, _, batch = fresh(world)
    with torch.no_grad():
        npo, _ = get_method("npo", beta=0.5).loss(live, batch, ref, 0)
        dpo, extras = get_method("dpo").loss(live, batch, ref, 0)
    assert npo.item() == pytest.approx(2 / 0.5 * math.log(2), rel=1e-5)
    assert extras["dpo"] == pytest.approx(math.log(2), rel=1e-5)
    assert dpo.item() == pytest.approx(math.log(2) + forget_nll(live, batch, "idk"), rel=1e-5)


def test_gd_entropy_variant_maximises_forget_entropy(world):
    live, _, _, batch = fresh(world)
    with torch.no_grad():
        loss, _ = get_method("gd", forget_term="entropy", forget_weight=0.5).loss(live, batch, None, 0)
        entropy = answer_entropy(forward_logits(live, batch["forget"]), batch["forget"]["labels"])
    assert loss.item() == pytest.approx(-0.5 * entropy.item() + forget_nll(live, batch, "retain"), rel=1e-5)


def test_undial_without_adjustment_is_the_reference_entropy(world):
    live, ref, _, batch = fresh(world)
    with torch.no_grad():
        loss, _ = get_method("undial", gamma=0.0).loss(live, batch, ref, 0)
        entropy = answer_entropy(forward_logits(live, batch["forget"]), batch["forget"]["labels"])
    assert loss.item() == pytest.approx(entropy.item(), rel=1e-5)


# ---- registry and hyperparameters --------------------------------------------------------
def test_registry_has_the_papers_eleven_and_the_extras():
    assert set(PAPER_METHODS) <= set(METHODS)
    assert {"simnpo", "undial"} <= set(METHODS)
    for cls in METHODS.values():  # formula and source documented next to the code
        doc = __import__(cls.__module__, fromlist=["doc"]).__doc__
        assert "L =" in doc and "Source:" in doc, cls.name


def test_hyperparameters_from_strings_and_bad_input():
    method = get_method("npo", beta="0.25", retain_weight="1")
    assert method.hparams.beta == 0.25 and "retain" in method.needs
    assert get_method("rmu", layer="2").hparams.layer == 2
    with pytest.raises(
        UserError, match=r"method 'npo' has no hyperparameter 'betta'; valid: beta, retain_weight"
    ):
        get_method("npo", betta="1")
    with pytest.raises(UserError, match=r"method 'dpo': hyperparameter beta='high' is not a valid float"):
        get_method("dpo", beta="high")
    with pytest.raises(UserError, match=r"unknown method 'gradient_ascent'; available: .*ga"):
        get_method("gradient_ascent")
    with pytest.raises(UserError, match=r"forget_term='sum' is not one of nll, entropy, kl"):
        get_method("gd", forget_term="sum")


def test_variants_and_bad_settings_of_rmu_scrub_and_sku(world):
    model, adapter, batch = world
    wmdp, clear = (
        get_method("rmu", variant="wmdp").hparams,
        get_method("rmu", variant="clear", alpha="5").hparams,
    )
    assert (wmdp.steering, wmdp.alpha, wmdp.params, wmdp.window) == (6.5, 1200.0, r"mlp\.down_proj", 3)
    adaptive = get_method("rmu").hparams  # the default: c measured, 5 × the forget activations' norm
    assert (adaptive.steering, adaptive.scale, adaptive.alpha, adaptive.window) == (None, 5.0, 1200.0, 3)
    assert (clear.steering, clear.alpha, clear.params, clear.window) == (300.0, 5.0, ".*", 0)  # set wins
    errors = [
        ("rmu", {"variant": "wmpd"}, r"method 'rmu': variant='wmpd' is not one of adaptive, wmdp, clear"),
        ("rmu", {"window": "-1"}, r"method 'rmu': hyperparameter window must not be negative, got -1"),
        ("rmu", {"params": "["}, r"method 'rmu': params='\[' is not a regex \(.+\)"),
        ("scrub", {"msteps": "-1"}, r"method 'scrub': hyperparameter msteps must not be negative, got -1"),
        ("sku", {"mismatches": "0"}, r"method 'sku': hyperparameter mismatches must be at least 1, got 0"),
        ("gd", {"retain_term": "sum"}, r"method 'gd': retain_term='sum' is not one of nll, kl"),
        ("gd", {"forget_term": "sum"}, r"method 'gd': forget_term='sum' is not one of nll, entropy, kl"),
    ]
    for name, hparams, message in errors:
        with pytest.raises(UserError, match=f"^{message}$"):
            get_method(name, **hparams)
    assert get_method("sku", mismatches="1").hparams.mismatches == 1 and get_method("scrub", msteps="0")
    nothing = r"method 'rmu': params='nothing' matches no trainable parameter in "
    with pytest.raises(UserError, match=f"^{nothing}decoder layers 2…3$"):
        get_method("rmu", params="nothing", layer=3, window=2).trainable_parameters(model, adapter)
    with pytest.raises(UserError, match=f"^{nothing}the model$"):
        get_method("rmu", params="nothing", window=0).trainable_parameters(model, adapter)
    with pytest.raises(ValueError, match="2 rows per forget row"):  # the batch holds 3 per row
        get_method("sku", mismatches=2).loss(model, batch, None, 0)
    with pytest.raises(RuntimeError, match=r"^RMU.prepare\(model, adapter\) must run before training$"):
        get_method("rmu").loss(model, batch, None, 0)


def test_rmu_layer_choice(world):
    model, adapter, _ = world
    method = get_method("rmu", layer=0)
    method.prepare(model, adapter)
    assert method.layer_index == 0  # layer 0 is a layer, not "the default"
    with pytest.raises(UserError, match=r"^method 'rmu': layer=4 but the model has 4 decoder layers \(0…3\)"):
        get_method("rmu", layer=4).prepare(model, adapter)

    class Deep:  # an adapter whose model has 40 decoder layers: the default is CLEAR's depth 7/32
        def decoder_layers(self, model):
            return [None] * 40

    method = get_method("rmu")
    method.prepare(model, Deep())
    assert method.layer_index == 9  # round(7 · 40 / 32)


# ---- a few steps move the target in the intended direction --------------------------------
def train(method, live, ref, adapter, batch, steps=6, lr=3e-3):
    method.prepare(live, adapter)
    names = method.trainable_parameters(live, adapter)
    params = [p for n, p in live.named_parameters() if names is None or n in names]
    optimizer = torch.optim.Adam(params, lr=lr)
    for step in range(steps):
        loss, _ = method.loss(live, batch, ref, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def margin(model, batch):
    """log π(IDK answer) − log π(true answer), summed over the batch."""
    with torch.no_grad():
        idk = sequence_logprob(forward_logits(model, batch["idk"]), batch["idk"]["labels"])
        true = sequence_logprob(forward_logits(model, batch["forget"]), batch["forget"]["labels"])
    return (idk - true).sum().item()


@pytest.mark.parametrize(
    "name,hparams",
    [
        ("ga", {}),
        ("gd", {}),
        ("kl", {}),
        ("npo", {}),
        ("simnpo", {"retain_weight": 0.0, "beta": 0.5}),  # β 4.5 saturates at a random model's NLL
        ("undial", {}),
        ("llmu", {}),
    ],
)
def test_forgetting_methods_raise_forget_nll(world, name, hparams):
    live, ref, adapter, batch = fresh(world)
    before = forget_nll(live, batch)
    train(get_method(name, **hparams), live, ref, adapter, batch, steps=4)
    assert forget_nll(live, batch) > before + 0.05


def test_retain_terms_keep_retain_nll_near_its_start(world):
    results = {}
    for name in ("ga", "gd", "kl"):
        live, ref, adapter, batch = fresh(world)
        before = forget_nll(live, batch, "retain")
        train(get_method(name), live, ref, adapter, batch, steps=8)
        results[name] = forget_nll(live, batch, "retain") - before
    # plain ascent drags the retain set along; a retain term holds it (or even lowers it)
    assert results["ga"] > 0.1
    assert results["gd"] < results["ga"] / 2 and results["kl"] < results["ga"] / 2


def test_idk_and_retain_ft_lower_what_they_fit(world):
    live, ref, adapter, batch = fresh(world)
    before = forget_nll(live, batch, "idk"), forget_nll(live, batch, "retain")
    train(get_method("idk"), live, ref, adapter, batch)
    assert forget_nll(live, batch, "idk") < before[0] - 0.1
    assert forget_nll(live, batch, "retain") < before[1] - 0.1
    live, ref, adapter, batch = fresh(world)
    train(get_method("retain_ft"), live, ref, adapter, batch)
    assert forget_nll(live, batch, "retain") < before[1] - 0.1


def test_dpo_prefers_idk_over_the_true_answer(world):
    live, ref, adapter, batch = fresh(world)
    before = margin(live, batch)
    train(get_method("dpo", task_weight=0.0), live, ref, adapter, batch)
    assert margin(live, batch) > before + 0.5


def test_scrub_alternates_and_its_max_steps_push_the_forget_set_away(world):
    method = get_method("scrub", msteps=2)
    passes = [sorted(kinds) for epoch in range(4) for kinds in method.passes(epoch)]
    assert passes == [["forget"], ["retain"], ["forget"], ["retain"], ["retain"], ["retain"]]
    live, ref, adapter, batch = fresh(world)
    optimizer = torch.optim.Adam(live.parameters(), lr=3e-3)
    max_batch, min_batch = {"forget": batch["forget"]}, {"retain": batch["retain"]}

    def step_and_forget_kl(step):
        loss, _ = method.loss(live, max_batch if step % 2 == 0 else min_batch, ref, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            return answer_kl(
                ref.logits(batch["forget"]), forward_logits(live, batch["forget"]), batch["forget"]["labels"]
            ).item()

    # At the start student == teacher, where KL has zero gradient: a min step separates them first.
    after_min = step_and_forget_kl(1)
    after_max = step_and_forget_kl(2)
    assert after_max > 2 * after_min > 0


def test_rmu_moves_forget_activations_toward_the_control_vector(world):
    live, ref, adapter, batch = fresh(world)
    method = get_method("rmu", steering=5.0, alpha=10.0)
    method.prepare(live, adapter)
    assert method.layer_index == 1  # round(7·4/32)
    names = method.trainable_parameters(live, adapter)
    assert names and all(".layers.0." in n or ".layers.1." in n for n in names)

    def distance():
        with torch.no_grad():
            h = method.activations(live, batch["forget"])
        return (h - method._control(h)).norm(dim=-1).mean().item()

    with torch.no_grad():
        method.loss(live, batch, ref, 0)  # draws the control vector
    control = method.control.clone()
    assert control.norm().item() == pytest.approx(5.0, rel=1e-5) and bool((control >= 0).all())
    before = distance()
    frozen_before = {n: p.clone() for n, p in live.named_parameters() if ".layers.3." in n}
    train(method, live, ref, adapter, batch, steps=8)
    assert distance() < before - 0.05
    assert torch.equal(method.control, control)  # u is fixed, not redrawn
    assert all(torch.equal(p, frozen_before[n]) for n, p in live.named_parameters() if n in frozen_before)


def test_rmu_forget_mse_by_hand(world):
    live, ref, adapter, batch = fresh(world)
    method = get_method("rmu", layer=2, alpha=3.0)
    method.prepare(live, adapter)
    with torch.no_grad():
        loss, extras = method.loss(live, batch, ref, 0)
        out = live(**{k: v for k, v in batch["forget"].items() if k != "labels"}, output_hidden_states=True)
        h = out.hidden_states[3][:, :-1][answer_mask(batch["forget"]["labels"])]  # output of layer 2
    expected = ((h - method.control) ** 2).mean().item()
    assert extras["forget_mse"] == pytest.approx(expected, rel=1e-5)
    assert extras["retain_mse"] == pytest.approx(0.0, abs=1e-10)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_sku_learns_the_forget_set_then_negates_the_task_vector(world):
    live, ref, adapter, batch = fresh(world)
    start = {n: p.detach().clone() for n, p in live.named_parameters()}
    before = forget_nll(live, batch)
    method = get_method("sku", negation=0.5)
    train(method, live, ref, adapter, batch)
    harmful = {n: p.detach().clone() for n, p in live.named_parameters()}
    assert forget_nll(live, batch) < before - 0.1  # stage 1 learns the forget set
    method.finalize(live, ref)
    for name, param in live.named_parameters():
        torch.testing.assert_close(param, start[name] - 0.5 * (harmful[name] - start[name]))
    assert forget_nll(live, batch) > before  # and the negated model is worse on it than the start
