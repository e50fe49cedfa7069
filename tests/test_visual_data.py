"""The visual track's identities, the shadow-split design and its refusals of bad input."""

import io

import pytest
import torch
from PIL import Image

from clearbench.errors import UserError
from clearbench.visual.data import (
    Identities,
    by_first_appearance,
    check_enough_images,
    concatenate,
    decode_images,
)
from clearbench.visual.jobs import training_rows
from clearbench.visual.methods import get_method
from clearbench.visual.splits import plan_splits


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def identities(names: list[str]) -> Identities:
    labels, order = by_first_appearance(names)
    return Identities(torch.arange(len(names), dtype=torch.float).view(-1, 1, 1, 1), labels, order)


def test_labels_by_first_appearance_and_relabelling():
    labels, names = by_first_appearance(["b", "a", "b", "c"])
    assert labels.tolist() == [0, 1, 0, 2] and names == ["b", "a", "c"]
    subset = identities(["b", "a", "b", "c", "a"]).of(["c", "b"])
    assert subset.names == ["c", "b"] and subset.labels.tolist() == [1, 1, 0]
    assert subset.images.flatten().tolist() == [0.0, 2.0, 3.0]  # rows kept in order
    both = concatenate([identities(["x", "y"]), identities(["z"])])
    assert both.names == ["x", "y", "z"] and both.labels.tolist() == [0, 1, 2]
    with pytest.raises(UserError, match="two configs: y"):
        concatenate([identities(["x", "y"]), identities(["y"])])


def test_enrolment_takes_each_identitys_first_images():
    mask = identities(["a", "b", "a", "a", "b", "b", "b"]).enrolment_mask(2)
    assert mask.tolist() == [True, True, True, False, True, False, False]


def test_images_are_resized_square_and_a_broken_one_is_named():
    pixels = decode_images([png((255, 0, 0)), {"bytes": png((0, 0, 255))}], 4, "config 'full'")
    assert pixels.shape == (2, 3, 4, 4)
    assert pixels[0, :, 0, 0].tolist() == [1.0, -1.0, -1.0]  # normalised to [-1, 1]
    half = Image.new("RGB", (8, 6), (255, 0, 0))
    half.paste((0, 0, 255), (4, 0, 8, 6))
    buffer = io.BytesIO()
    half.save(buffer, format="PNG")
    right = decode_images([buffer.getvalue()], 4, "config 'full'", box=[0.5, 0.0, 1.0, 1.0])
    assert right[0, :, :, :].mean(dim=(1, 2)).tolist() == [-1.0, -1.0, 1.0]  # the face box's pixels only
    with pytest.raises(UserError, match="config 'full', row 1: the image does not decode"):
        decode_images([png((0, 0, 0)), b"not a png"], 4, "config 'full'")


def test_identities_with_too_few_images_are_refused_or_skipped():
    people = identities(["a", "a", "a", "b", "c", "c"])
    with pytest.raises(UserError, match=r"fewer than 3 images .*: b \(1\), c \(2\)"):
        check_enough_images(people, 3, skip=False)
    said = []
    kept = check_enough_images(people, 3, skip=True, log=said.append)
    assert kept.names == ["a"] and "b (1), c (2)" in said[0]


def test_shadow_design_roles():
    forget, holdout = ["f1", "f2"], ["h1", "h2"]
    others = [f"o{i}" for i in range(6)]
    splits = plan_splits(forget, holdout, others + forget, 8, 3, seed=0)
    assert [s.member_group for s in splits] == ["forget"] * 4 + ["holdout"] * 4
    assert [s.target for s in splits] == [True, True, False, False] * 2
    assert splits[0].forget == forget and splits[0].unseen == holdout
    assert splits[5].forget == holdout and splits[5].unseen == forget
    for split in splits:
        assert len(split.retain) == 3 and set(split.retain) <= set(others)
    assert len({tuple(s.retain) for s in splits}) > 1  # drawn per split
    assert plan_splits(forget, holdout, others, 8, 3, seed=0) == splits  # seeded


def test_shadow_design_refusals():
    with pytest.raises(UserError, match="retain_people': 7 .* only 6"):
        plan_splits(["f"], ["h"], [f"o{i}" for i in range(6)], 4, 7, seed=0)
    with pytest.raises(UserError, match="multiple of 4"):
        plan_splits(["f"], ["h"], ["a", "b"], 6, 2, seed=0)
    with pytest.raises(UserError, match="differ in size"):
        plan_splits(["f", "g"], ["h"], ["a", "b"], 4, 2, seed=0)


def test_forget_rows_are_oversampled_by_balance():
    labels = torch.tensor([0, 1, 2, 2])
    is_forget = torch.tensor([True, False, False, False])
    images = torch.arange(4.0)
    x, y, f = training_rows(images, labels, is_forget, get_method("scrub_bio"))  # balance 5
    assert int(f.sum()) == 5 and int((~f).sum()) == 3 and x[f].tolist() == [0.0] * 5
    x, _, f = training_rows(images, labels, is_forget, get_method("retain_ft"))  # no forget rows
    assert not f.any() and x.tolist() == [1.0, 2.0, 3.0]


def test_a_last_batch_of_one_image_is_dropped_not_fatal():
    from clearbench.visual.model import FaceEmbedder
    from clearbench.visual.train import Recipe, fit_identities

    embedder = FaceEmbedder(2)
    images, labels = torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 0, 1, 0])
    _, status = fit_identities(
        embedder, images, labels, 2, Recipe(epochs=2, learning_rate=0.1, batch_size=2), 0
    )
    assert status == {"status": "completed", "steps": 4}  # batches of 2, 2 (and the 1 dropped) per epoch
