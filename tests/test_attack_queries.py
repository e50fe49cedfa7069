"""Adversarial queries: image perturbations (deterministic for a seed, checked against numpy) and the
reworded / jailbreak / row-subset task variants."""

import numpy as np
import pytest
from PIL import Image

from clearbench.attacks.options import AttackOptions
from clearbench.attacks.perturb import OCCLUSION_GREY, perturb
from clearbench.attacks.queries import Queries
from clearbench.attacks.variants import REWORDED_CAPTION_QUESTIONS, REWORDED_FACE_QUESTION, AttackTask
from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION
from clearbench.errors import UserError
from clearbench.evaluate.tasks import TASKS
from clearbench.settings import check


def _image(size=32):
    pixels = np.random.default_rng(0).integers(40, 200, size=(size, size, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("kind,strength", [("noise", 0.1), ("occlusion", 0.25)])
def test_random_perturbations_are_deterministic_for_a_key(kind, strength):
    image = _image()
    first, again = perturb(image, kind, strength, "0:t:1:x"), perturb(image, kind, strength, "0:t:1:x")
    other = perturb(image, kind, strength, "1:t:1:x")
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    assert not np.array_equal(np.asarray(first), np.asarray(image))


def test_noise_has_the_asked_standard_deviation():
    grey = Image.new("RGB", (128, 128), (128, 128, 128))  # far from 0 and 255: no clipping
    noisy = np.asarray(perturb(grey, "noise", 0.05, "k"), dtype=float) - 128
    assert noisy.std() == pytest.approx(0.05 * 255, rel=0.05)
    assert abs(noisy.mean()) < 0.5


def test_brightness_scales_pixels_as_numpy_does():
    image = _image()
    brighter = np.asarray(perturb(image, "brightness", 1.5, "k"), dtype=float)
    expected = np.clip(np.asarray(image, dtype=float) * 1.5, 0, 255)
    assert np.abs(brighter - expected).max() <= 1  # PIL rounds
    assert np.array_equal(np.asarray(perturb(image, "brightness", 1.0, "k")), np.asarray(image))


def test_occlusion_covers_the_asked_share_with_grey():
    image = Image.new("RGB", (16, 16), (255, 0, 0))
    covered = np.all(np.asarray(perturb(image, "occlusion", 0.25, "k")) == OCCLUSION_GREY, axis=-1)
    assert covered.sum() == 64  # an 8 × 8 box: a quarter of 256 pixels
    assert np.array_equal(np.asarray(perturb(image, "occlusion", 0.0, "k")), np.asarray(image))


def test_crop_keeps_the_centre_at_the_original_size():
    image = Image.new("RGB", (20, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 4))  # a white band at the top, cropped away at 0.5
    cropped = perturb(image, "crop", 0.5, "k")
    assert cropped.size == (20, 20)
    assert np.asarray(cropped).max() == 0
    blurred = perturb(image, "blur", 0.0, "k")
    assert np.array_equal(np.asarray(blurred), np.asarray(image))


def test_strengths_out_of_range_are_refused_by_name():
    for field, value in [("noise_std", 1.5), ("crop_keep", 0.0), ("brightness", 0.0), ("occlusion", 1.0)]:
        with pytest.raises(UserError, match=field):
            check(AttackOptions(**{field: value}), lambda key: key)
    with pytest.raises(UserError, match="unknown variant.*sharpen"):
        Queries().variants(AttackOptions(queries=["blur", "sharpen"]))


def _row(**extra):
    return {
        "image": _image(16),
        "caption": "A is a Korean historian.",
        "name": "A",
        "paraphrased_caption": "The historian A.",
        "perturbed_captions": ["A is a chef."],
        "perturbed_names": ["B"],
        **extra,
    }


def test_reworded_questions_were_never_training_questions():
    assert not set(REWORDED_CAPTION_QUESTIONS) & set(CAPTION_QUESTIONS)
    captions = AttackTask.of(TASKS["forget_captions"], wording="reworded")
    asked = {captions.item(_row(), index, seed=0).prompt.question for index in range(40)}
    assert asked <= set(REWORDED_CAPTION_QUESTIONS) and len(asked) > 1
    face = AttackTask.of(TASKS["forget_facerec"], wording="reworded")
    assert face.item(_row(), 0, seed=0).prompt.question == REWORDED_FACE_QUESTION != FACE_QUESTION
    qa = AttackTask.of(TASKS["tofu_forget"], wording="reworded")
    row = {"question": "Q?", "paraphrased_question": "Q, said otherwise?", "answer": "x",
           "paraphrased_answer": "y", "perturbed_answer": ["z"]}  # fmt: skip
    assert qa.item(row, 0, seed=0).prompt.question == "Q, said otherwise?"
    assert "paraphrased_question" in qa.columns()
    with pytest.raises(UserError, match="paraphrased_question"):
        qa.item({**row, "paraphrased_question": ""}, 3, seed=0)


def test_jailbreak_wraps_questions_but_not_after_a_completion_prompt():
    captions = AttackTask.of(TASKS["forget_captions"], wording="jailbreak", prefix="P: ", suffix=" :S")
    plain = TASKS["forget_captions"].item(_row(), 5, seed=0).prompt.question
    assert captions.item(_row(), 5, seed=0).prompt.question == f"P: {plain} :S"
    face = AttackTask.of(TASKS["forget_facerec"], wording="jailbreak", prefix="P: ", suffix=" :S")
    assert face.item(_row(), 0, seed=0).prompt.question == "P: " + FACE_QUESTION


def test_a_row_subset_keeps_original_indices_and_their_questions():
    task = AttackTask.of(TASKS["forget_captions"], rows=(3, 7))
    item = task.item(_row(), 1, seed=0)  # the second asked row is row 7
    assert item.index == 7
    assert item.prompt.question == TASKS["forget_captions"].item(_row(), 7, seed=0).prompt.question


def test_a_perturbed_image_is_the_same_for_the_same_seed_and_row():
    task = AttackTask.of(TASKS["forget_captions"], perturbation="noise", strength=0.2)
    row = _row()
    first, again = task.item(row, 2, seed=0), task.item(row, 2, seed=0)
    assert np.array_equal(np.asarray(first.prompt.image), np.asarray(again.prompt.image))
    assert not np.array_equal(
        np.asarray(first.prompt.image), np.asarray(task.item(row, 3, seed=0).prompt.image)
    )
    assert not np.array_equal(np.asarray(first.prompt.image), np.asarray(row["image"]))
    # Text tasks have no image: perturbation variants leave them out (queries.py).
    assert first.prompt.question == TASKS["forget_captions"].item(row, 2, seed=0).prompt.question
