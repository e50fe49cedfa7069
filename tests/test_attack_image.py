"""Attacks through the image: the universal perturbation's bound and optimisation, typographic
prompts, and the settings refused before any model loads."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from clearbench.attacks import get_attack
from clearbench.attacks.adversarial import apply_perturbation, projected_descent, universal_perturbation
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.typographic import draw_text
from clearbench.data.format import CAPTION_QUESTIONS, Sample
from clearbench.errors import UserError
from clearbench.run.config import load_config


def test_pgd_reaches_the_corner_of_the_ball_a_linear_loss_points_to():
    # loss(δ) = −Σ w · clip(x + δ, 0, 1): each step moves δ by 2.5 · 0.1 / 4 = 0.0625 along sign(w),
    # then into the ε-ball: 0.0625, 0.125 → 0.1, so δ = ε · sign(w) after 4 steps. A pixel that leaves
    # the range (0.95 + 0.0625 > 1) has no gradient left through the clip and stays where it left.
    x = torch.tensor([[0.5, 0.5, 0.95, 0.3]])
    w = torch.tensor([[2.0, -1.0, 3.0, -0.5]])
    epsilon = 0.1
    delta = projected_descent(lambda d: -(w * (x + d).clamp(0, 1)).sum(), x.shape, epsilon, steps=4)
    assert delta[0].tolist() == pytest.approx([0.1, -0.1, 0.0625, -0.1])
    many = projected_descent(lambda d: -(w * (x + d).clamp(0, 1)).sum(), x.shape, epsilon, steps=10)
    assert many.abs().max() <= epsilon + 1e-7


def test_the_perturbed_photo_stays_within_epsilon_and_the_pixel_range():
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    epsilon = 8 / 255
    delta = rng.uniform(-epsilon, epsilon, (32, 32, 3)).astype(np.float32)
    delta[0, 0] = [epsilon, -epsilon, epsilon]  # the bound itself
    moved = np.asarray(apply_perturbation(photo, delta), dtype=int)
    fitted = np.asarray(photo.resize((32, 32), Image.BICUBIC), dtype=int)
    assert moved.shape == (32, 32, 3) and moved.min() >= 0 and moved.max() <= 255
    assert np.abs(moved - fitted).max() <= epsilon * 255
    # δ is truncated to whole 8-bit steps: 2.9 / 255 moves a mid-grey pixel by 2, never 3.
    grey = Image.new("RGB", (4, 4), (100, 100, 100))
    step = np.asarray(apply_perturbation(grey, np.full((4, 4, 3), 2.9 / 255, np.float32)), dtype=int)
    assert (step == 102).all()
    white = np.asarray(apply_perturbation(Image.new("RGB", (4, 4), "white"), np.full((4, 4, 3), 0.5)))
    assert (white == 255).all()  # clipped at the top


def test_the_perturbation_raises_the_answers_likelihood_on_a_tiny_model():
    from clearbench.evaluate.scoring import score_naive
    from clearbench.models.llava import LlavaAdapter
    from clearbench.models.tiny import TinySize, build_tiny_llava

    size = TinySize(image_size=16, patch_size=8, vision_hidden=32, vision_layers=1, hidden=32, layers=2)
    answers = ["Alice Smith holds a red umbrella", "Bob Marten wrote a book"]
    torch.manual_seed(0)
    model, processor = build_tiny_llava(answers * 3 + list(CAPTION_QUESTIONS), size, seed=0)
    adapter = LlavaAdapter()
    photos = [Image.new("RGB", (16, 16), colour) for colour in ((200, 0, 0), (0, 0, 200))]
    samples = [Sample(CAPTION_QUESTIONS[0], answer, photo) for answer, photo in zip(answers, photos)]

    def mean_nll(batch):
        scores = score_naive(model, adapter, processor, batch, [[s.answer] for s in batch])
        return float(np.mean([row[0].mean for row in scores]))

    epsilon = 16 / 255
    delta = universal_perturbation(model, adapter, processor, samples, epsilon, steps=5)
    assert delta.shape == (16, 16, 3) and np.abs(delta).max() <= epsilon + 1e-7
    attacked = [dataclasses.replace(s, image=apply_perturbation(s.image, delta)) for s in samples]
    before, after = mean_nll(samples), mean_nll(attacked)
    assert after < before - 1e-3, (before, after)
    assert all(p.requires_grad for p in model.parameters())  # the model is left trainable as it was


def test_typographic_prompts_draw_text_in_a_band_at_the_bottom():
    photo = Image.new("RGB", (64, 64), (0, 128, 0))
    written = np.asarray(draw_text(photo, "Kamau Wekesa"), dtype=int)
    changed = np.abs(written - np.asarray(photo, dtype=int)).sum(axis=2) > 0
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() >= 64 * (1 - 0.4) and rows.max() == 63  # only the band at the bottom
    band = written[rows.min() :]
    assert (band < 128).all(axis=2).sum() > 20  # dark text pixels on the white band
    assert (band == 255).all(axis=2).sum() > 20
    assert not changed[: rows.min()].any()


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("uap_epsilon", 0, "uap_epsilon"),
        ("uap_epsilon", 1.5, "uap_epsilon"),
        ("uap_steps", 0, "uap_steps"),
        ("uap_fraction", 1.0, "uap_fraction"),
        ("typographic_text", "caption", "typographic_text"),
        ("image_variants", ["uap", "sticker"], "sticker"),
    ],
)
def test_bad_image_attack_settings_are_refused_naming_them(setting, value, message):
    with pytest.raises(UserError, match=message):
        load_config("tiny", ["attack.attacks=[image]", f"attack.{setting}={value}"])


def test_the_image_attacks_variants_carry_their_settings():
    options = dataclasses.replace(AttackOptions(), uap_epsilon=0.05, uap_steps=3, typographic_text="question")
    variants = {v.name: v.settings for v in get_attack("image").variants(options)}
    assert variants["image-uap"] == {"kind": "uap", "epsilon": 0.05, "steps": 3, "fraction": 0.5}
    assert variants["image-typographic"] == {"kind": "typographic", "text": "question"}
    assert variants["image-unseen"] == {"kind": "unseen"}


def test_the_image_attack_runs_through_the_attack_stage(tmp_path):
    from attack_world import FAST_EVAL, build_world

    from clearbench.attacks.image import PERTURBATION_FILE
    from clearbench.attacks.stage import attack_all
    from clearbench.data.load import load_split

    source, checkpoint = build_world(tmp_path, seeds=(0, 1))
    models = [("target", "target", checkpoint), ("gold", "gold", tmp_path / "model-1")]
    options = dataclasses.replace(AttackOptions(), uap_steps=1)

    quick = dataclasses.replace(FAST_EVAL, max_new_tokens=1, batch_size=32)
    records = attack_all(tmp_path / "out", source, "forget10", models, ["image"], options, quick, 0)
    assert {(r["variant"], r["status"]) for r in records} == {
        (f"image-{kind}", "completed") for kind in ("uap", "typographic", "unseen")
    }
    rows = {r["variant"]: r["rows"] for r in records if r["model"] == "target"}
    photos = len(load_split(source, "forget10_perturbed"))
    assert set(rows["image-typographic"]) == {"forget_captions", "forget_facerec"}  # image tasks only
    assert rows["image-typographic"]["forget_captions"] == photos
    assert 0 < rows["image-uap"]["forget_captions"] < photos  # the photos it was not optimised on
    assert rows["image-unseen"]["forget_captions"] == len(load_split(source, "forget10_unseen"))
    for model in ("target", "gold"):  # white-box on each model: its own perturbation
        delta = np.load(tmp_path / "out" / "attacks" / "image-uap" / model / PERTURBATION_FILE)
        assert np.abs(delta).max() <= options.uap_epsilon + 1e-7
    # Scored over people like every attack: the asked rows keep their person (one forget person here).
    for record in records:
        assert "fewer than 2 people" in record["residual"]["after"]["reason"], record["variant"]
