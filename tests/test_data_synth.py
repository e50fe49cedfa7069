"""The synthetic CLEAR generator: determinism, person splits, faces, and what the rows say."""

import hashlib
import random

import numpy as np
import pytest

from clearbench.data.check import check_source
from clearbench.data.format import FACE_QUESTION
from clearbench.data.load import load_split
from clearbench.data.synth import generate
from clearbench.data.synth.faces import HAIR_COLOURS, SKIN_TONES, Look, draw_look
from clearbench.data.synth.people import draw_people
from clearbench.data.synth.scenes import render_photo
from clearbench.data.synth.splits import forget_count, split_people
from clearbench.errors import UserError

PERSONS = 12


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return str(generate(tmp_path_factory.mktemp("data") / "synth", persons=PERSONS, seed=1, image_size=32))


def rows(source, config):
    return (
        load_split(source, config)
        .remove_columns([c for c in ("image",) if c in load_split(source, config).features])
        .to_list()
    )


def tree_digest(directory):
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# --- determinism ---------------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files(tmp_path):
    first = generate(tmp_path / "a", persons=4, seed=7, image_size=24)
    second = generate(tmp_path / "b", persons=4, seed=7, image_size=24)
    other_seed = generate(tmp_path / "c", persons=4, seed=8, image_size=24)
    assert tree_digest(first) == tree_digest(second)
    assert tree_digest(first) != tree_digest(other_seed)


def test_rerun_replaces_a_previous_synth_but_not_a_foreign_directory(tmp_path):
    out = generate(tmp_path / "d", persons=3, seed=0, image_size=16)
    generate(out, persons=3, seed=0, image_size=16)  # a previous synth is replaced in place
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="refusing"):
        generate(foreign, persons=3)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "kwargs, option", [({"persons": 1}, "--persons"), ({"image_size": 8}, "--image-size")]
)
def test_bad_options_are_user_errors(tmp_path, kwargs, option):
    with pytest.raises(UserError, match=option):
        generate(tmp_path / "x", **kwargs)


def test_generated_dataset_passes_validation(synthetic):
    report = check_source(synthetic)
    assert report.problems == []
    assert len(report.rows) == 40


# --- splits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persons, expected",
    [(2, (1, 1, 1)), (10, (1, 1, 1)), (20, (1, 1, 2)), (40, (1, 2, 4)), (200, (2, 10, 20))],
)
def test_forget_sizes_follow_clears_percentages(persons, expected):
    assert tuple(forget_count(persons, p) for p in ("01", "05", "10")) == expected
    splits = split_people(persons, random.Random(0))
    assert tuple(len(splits.forget[p]) for p in ("01", "05", "10")) == expected
    assert set(splits.forget["01"]) <= set(splits.forget["05"]) <= set(splits.forget["10"])
    for percent in ("01", "05", "10"):
        retain = splits.retain(percent, persons)
        assert set(retain).isdisjoint(splits.forget[percent])
        assert sorted(retain + splits.forget[percent]) == list(range(persons))
    assert splits.retain_perturbed and set(splits.retain_perturbed).isdisjoint(splits.forget["10"])
    assert len(splits.holdout["10"]) == expected[2]


def test_split_proportions_in_the_written_data(synthetic):
    full = {r["name"] for r in rows(synthetic, "full")}
    assert len(full) == PERSONS
    for percent, retain in (("01", "99"), ("05", "95"), ("10", "90")):
        forget_names = {r["name"] for r in rows(synthetic, f"forget{percent}")}
        retain_names = {r["name"] for r in rows(synthetic, f"retain{retain}")}
        assert len(forget_names) == forget_count(PERSONS, percent)
        assert forget_names | retain_names == full and not forget_names & retain_names
        assert {r["name"] for r in rows(synthetic, f"forget{percent}_perturbed")} == forget_names
    holdout = {r["name"] for r in rows(synthetic, "holdout10")}
    assert len(holdout) == forget_count(PERSONS, "10") and not holdout & full
    holdout_questions = [r["question"] for r in rows(synthetic, "tofu_holdout10")]
    assert all(any(name in q for name in holdout) for q in holdout_questions)
    assert not set(holdout_questions) & {r["question"] for r in rows(synthetic, "tofu_full")}


# --- faces ---------------------------------------------------------------------------------------


def share_of(image, colour, tolerance=10):
    """Fraction of pixels within `tolerance` (per channel) of `colour`."""
    pixels = np.asarray(image, dtype=int).reshape(-1, 3)
    return float((np.abs(pixels - np.array(colour)).max(axis=1) <= tolerance).mean())


def test_one_persons_images_share_identity_while_the_look_changes():
    rng = random.Random(5)
    person = next(p for p in draw_people(rng, 10, set()) if p.face.hair_style not in ("bald", "mohawk"))
    looks = [draw_look(rng) for _ in range(6)]
    images = [render_photo(64, person.face, look, "office", "daylight", rng) for look in looks]
    for image in images:  # the same skin and hair colour cover a good part of every picture
        assert share_of(image, SKIN_TONES[person.face.skin]) > 0.04
        assert share_of(image, HAIR_COLOURS[person.face.hair_colour]) > 0.01
    assert len({image.tobytes() for image in images}) == len(images)  # while the pictures differ


def test_two_people_look_different():
    rng = random.Random(6)
    people = draw_people(rng, 30, set())
    assert len({p.face for p in people}) == 30  # no two people share a face identity
    a, b = next(
        (a, b)
        for a in people
        for b in people
        if np.abs(np.subtract(SKIN_TONES[a.face.skin], SKIN_TONES[b.face.skin])).max() > 40
    )
    look = Look("facing the camera", "neutral", "coat", "blue", 0.0, 1.0, 0.0, 0.0)
    image_a = render_photo(64, a.face, look, "office", "daylight", random.Random(0))
    image_b = render_photo(64, b.face, look, "office", "daylight", random.Random(0))
    assert share_of(image_a, SKIN_TONES[a.face.skin]) > 0.04
    assert share_of(image_b, SKIN_TONES[a.face.skin]) < 0.005  # a's skin is nowhere on b
    assert np.abs(np.asarray(image_a, int) - np.asarray(image_b, int)).mean() > 3


# --- what the rows say ---------------------------------------------------------------------------


def test_captions_name_the_person_and_perturbations_keep_the_form(synthetic):
    people = {r["name"] for r in rows(synthetic, "full")}
    for row in rows(synthetic, "retain_perturbed") + rows(synthetic, "forget10_perturbed"):
        assert row["caption"].startswith(row["name"] + ",")
        assert len(row["caption"].split()) <= 25
        assert row["name"] in row["paraphrased_caption"] and row["paraphrased_caption"] != row["caption"]
        assert len(set(row["perturbed_captions"])) == 5 and row["caption"] not in row["perturbed_captions"]
        assert all(p.startswith(row["name"] + ",") for p in row["perturbed_captions"])
        assert len(set(row["perturbed_names"])) == 5 and row["name"] not in row["perturbed_names"]
        assert set(row["perturbed_names"]) <= people


def test_images_and_questions_per_person(synthetic):
    names = [r["name"] for r in rows(synthetic, "full")]
    counts = {name: names.count(name) for name in set(names)}
    assert all(8 <= count <= 20 for count in counts.values())
    questions = rows(synthetic, "tofu_full")
    for name in counts:
        mine = [q for q in questions if name in q["question"]]
        assert 10 <= len(mine) <= 20
    for row in rows(synthetic, "tofu_retain_perturbed"):
        assert len(row["answer"].split()) <= 20
        assert len(set(row["perturbed_answer"])) == 5 and row["answer"] not in row["perturbed_answer"]


def test_tofu_variants_put_caption_rows_then_text_rows(synthetic):
    table = rows(synthetic, "forget10+tofu")
    captions = [r for r in table if r["caption"] is not None]
    texts = [r for r in table if r["caption"] is None]
    assert table == captions + texts
    assert all(r["question"] is None and r["answer"] is None for r in captions)
    assert all(r["question"] and r["answer"] for r in texts)
    assert len(captions) == len(rows(synthetic, "forget10"))
    assert len(texts) == len(rows(synthetic, "tofu_forget10"))


def test_real_sets_offer_only_wrong_options_and_pretraining_knows_their_answers(synthetic):
    pretraining = rows(synthetic, "pretraining")
    known_faces = {r["answer"] for r in pretraining if r["question"] == FACE_QUESTION}
    real_faces = rows(synthetic, "real_faces")
    assert {r["answer"] for r in real_faces} == known_faces
    assert all(r["answer"] not in r["options"] and len(r["options"]) == 5 for r in real_faces)
    assert all(r["answer"] not in r["options"] for r in rows(synthetic, "real_world"))
    pretrained_questions = {r["question"] for r in pretraining}
    for config in ("tofu_real_authors_perturbed", "tofu_world_facts_perturbed"):
        assert {r["question"] for r in rows(synthetic, config)} <= pretrained_questions
    # The faces people are asked to name in real_faces are new pictures, not pretraining images.
    real_images = {row["image"]["bytes"] for row in load_split(synthetic, "real_faces").data.to_pylist()}
    pretraining_images = {
        row["image"]["bytes"] for row in load_split(synthetic, "pretraining").data.to_pylist() if row["image"]
    }
    assert not real_images & pretraining_images
