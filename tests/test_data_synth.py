"""The synthetic CLEAR generator: determinism, person splits, faces, and what the rows say."""

import hashlib
import random
import re
import string
from difflib import SequenceMatcher

import numpy as np
import pytest

from clearbench.data.audit import check_source
from clearbench.data.format import FACE_QUESTION
from clearbench.data.load import load_split
from clearbench.data.synth import generate
from clearbench.data.synth.build import build_tables, stream
from clearbench.data.synth.density import CLEAR_DENSITY, Density
from clearbench.data.synth.faces import HAIR_COLOURS, SKIN_TONES, Look, draw_look
from clearbench.data.synth.people import draw_people
from clearbench.data.synth.scenes import render_photo
from clearbench.data.synth.splits import forget_count, matched_pairs, split_people
from clearbench.data.synth.text import BIOGRAPHY_TEMPLATES
from clearbench.data.synth.world import FAMOUS_BIOGRAPHIES
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


def test_density_sets_rows_per_person_and_the_pretrained_worlds_size():
    compact = Density(photos=(3, 3), questions=(2, 2), famous=10, famous_photos=2, scenes=5)
    tables = build_tables(12, 0, 16, compact)
    for config, per_person in (("full", 3), ("tofu_full", 2), ("holdout10", 3), ("tofu_holdout10", 2)):
        rows = len(next(iter(tables[config].values())))
        people = 12 if config.endswith("full") else forget_count(12, "10")
        assert rows == per_person * people, config
    assert len(tables["real_faces"]["image"]) == 10 and len(tables["real_world"]["image"]) == 5
    faces = [
        a
        for q, a in zip(tables["pretraining"]["question"], tables["pretraining"]["answer"])
        if q == FACE_QUESTION
    ]
    assert len(faces) == 10 * 2  # famous × famous_photos


def test_topics_choose_what_each_person_is_asked_and_nothing_else():
    topics = ("birth_year", "home", "hobby")
    chosen = build_tables(12, 0, 16, Density(photos=(1, 1), questions=(2, 2), famous=10, topics=topics))
    every = build_tables(12, 0, 16, Density(photos=(1, 1), questions=(2, 2), famous=10))
    questions = {
        t.topic: re.compile(re.sub(r"\\{\w+\\}", ".+", re.escape(t.question))) for t in BIOGRAPHY_TEMPLATES
    }

    def asked(table):
        return {
            next(k for k, q in questions.items() if q.fullmatch(question)) for question in table["question"]
        }

    assert asked(chosen["tofu_full"]) == set(topics) and asked(chosen["tofu_holdout10"]) <= set(topics)
    assert len(asked(every["tofu_full"])) > len(topics)  # 24 questions over all 18 topics
    assert chosen["full"] == every["full"] and chosen["pretraining"] == every["pretraining"]


@pytest.mark.parametrize(
    "density, option",
    [
        (Density(photos=(5, 4)), "--photos"),
        (Density(questions=(1, 19)), "--questions"),
        (Density(famous=1), "--famous"),
        (Density(famous_photos=0), "--famous-photos"),
        (Density(topics=("home", "hobbies")), "--topics: unknown hobbies"),
        (Density(questions=(2, 3), topics=("home", "hobby")), "--questions: need 1 <= fewest <= most <= 2"),
    ],
)
def test_impossible_densities_are_refused_naming_the_option(tmp_path, density, option):
    with pytest.raises(UserError, match=option):
        generate(tmp_path / "x", persons=4, density=density)


def test_generated_dataset_passes_validation(synthetic):
    report = check_source(synthetic)
    assert report.problems == []
    assert len(report.rows) == 47  # 40 configs of CLEAR's layout and holdouts, 7 of unseen photos


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


def words(text):
    return [word.strip(".,") for word in text.split()]


def similarity(a, b):
    """Word-sequence similarity in [0, 1] (1: same words in the same order)."""
    return SequenceMatcher(None, words(a), words(b), autojunk=False).ratio()


def removed_words(paraphrase, perturbed):
    """Words of `paraphrase` that `perturbed` replaces or drops: the facts it changed."""
    a, b = words(paraphrase), words(perturbed)
    opcodes = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return [word for tag, i1, i2, _, _ in opcodes if tag != "equal" for word in a[i1:i2]]


def assert_perturbations_are_the_paraphrase_with_other_facts(answer, paraphrase, perturbed, fact_words, name):
    """TOFU's form: the truth ratio compares the paraphrase with its perturbations, so they share its
    wording (not the trained answer's) and differ from it only in fact slots. Both name the person."""
    assert name in answer and name in paraphrase
    # a paraphrase is reworded, not the answer again; the name aside, the closest pair is
    # "X is Korean." / "X's nationality is Korean." (0.67)
    assert similarity(answer.replace(name, ""), paraphrase.replace(name, "")) < 0.7
    assert len(set(perturbed)) == 5 and paraphrase not in perturbed and answer not in perturbed
    for wrong in perturbed:
        assert similarity(wrong, paraphrase) >= 0.5
        assert similarity(wrong, paraphrase) > similarity(wrong, answer) + 0.2
        # Function words may move when two facts swap places ("a nurse and a fisherman").
        changed = set(removed_words(paraphrase, wrong)) - {"a", "an", "and"}
        assert changed and changed <= fact_words, (paraphrase, wrong)


def test_captions_name_the_person_and_perturbations_give_a_wrong_occupation(synthetic):
    people = {r["name"] for r in rows(synthetic, "full")}
    for row in rows(synthetic, "retain_perturbed") + rows(synthetic, "forget10_perturbed"):
        name, role = row["name"], row["caption"].split(", ")[1].split(" ", 1)[1]  # "X, a <role>, ..."
        nationality, occupation = role.split(" ", 1)
        who = f"{name}, {'an' if nationality[0] in 'AEIOU' else 'a'} {role}, "
        assert row["caption"].startswith(who) and row["paraphrased_caption"].startswith(who)
        assert len(row["caption"].split()) <= 25 and len(row["paraphrased_caption"].split()) <= 25
        # reworded beyond who is pictured
        assert similarity(row["caption"].replace(who, ""), row["paraphrased_caption"].replace(who, "")) < 0.5
        # each perturbation is the paraphrase with another occupation, the nationality and photo kept
        occupations = set()
        for wrong in row["perturbed_captions"]:
            assert removed_words(row["paraphrased_caption"], wrong) == occupation.split()
            assert wrong.split(", ")[2:] == row["paraphrased_caption"].split(", ")[2:]
            kind = wrong.split(", ")[1].split(" ", 1)[1]
            assert kind.split(" ", 1)[0] == nationality
            occupations.add(kind.split(" ", 1)[1])
        assert len(occupations) == 5 and occupation not in occupations
        assert len(set(row["perturbed_names"])) == 5 and name not in row["perturbed_names"]
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


@pytest.mark.parametrize("config", ["tofu_retain_perturbed", "tofu_forget10_perturbed"])
def test_perturbed_answers_are_the_paraphrased_answer_with_a_wrong_fact(synthetic, config):
    table = rows(synthetic, config)
    names = {r["name"] for r in rows(synthetic, "full")}
    assert len(table) >= 10
    for row in table:
        name = max((name for name in names if name in row["question"]), key=len)
        assert max(len(text.split()) for text in [row["paraphrased_answer"], *row["perturbed_answer"]]) <= 20
        # The changed words are facts: the true answer states them too, in its own wording.
        facts = set(words(row["answer"])) - {"was", "is", "in", "the", "and"}
        assert_perturbations_are_the_paraphrase_with_other_facts(
            row["answer"], row["paraphrased_answer"], row["perturbed_answer"], facts, name
        )


@pytest.mark.parametrize("config", ["tofu_real_authors_perturbed", "tofu_world_facts_perturbed"])
def test_fact_perturbations_keep_the_answers_form(synthetic, config):
    """Here evaluation compares the answer itself with the perturbations, so they take its form."""
    for row in rows(synthetic, config):
        for wrong in row["perturbed_answer"]:
            changed = removed_words(row["answer"], wrong)
            assert changed and len(changed) <= 2 and similarity(wrong, row["answer"]) >= 0.6


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


def test_pretraining_shows_each_famous_face_often_and_stays_small():
    tables = build_tables(20, 0, 16)  # the default --persons
    pretraining, real_faces = tables["pretraining"], tables["real_faces"]
    faces = [a for q, a in zip(pretraining["question"], pretraining["answer"]) if q == FACE_QUESTION]
    captions = [c for c in pretraining["caption"] if c]
    for name in real_faces["answer"]:  # a tiny model needs many photos to learn a face
        assert faces.count(name) == CLEAR_DENSITY.famous_photos
        assert sum(c.startswith(name + ",") for c in captions) == CLEAR_DENSITY.famous_photos
    assert len(real_faces["answer"]) == 15
    # Trained for 10 epochs on a CPU: keep it small, with every kind of scene question present.
    assert len(pretraining["image"]) <= 800
    scene_questions = [q for q in pretraining["question"] if q and q != FACE_QUESTION and "?" in q]
    for kind in ("How many", "What colour", "far left"):
        assert sum(kind in q for q in scene_questions) >= 40


def slot_values(form, text, name):
    """The values `text` gives `form`'s slots if it is `form` said of `name`, else None."""
    pattern = ""
    for literal, field, _, _ in string.Formatter().parse(form):
        pattern += re.escape(literal)
        if field:
            pattern += {"name": re.escape(name), "possessive": "(?:his|her)"}.get(field, f"(?P<{field}>.+?)")
    match = re.fullmatch(pattern, text)
    return match.groupdict() if match else None


def biography_rows(pretraining, name):
    """(wording, template index, facts) of each text row of pretraining asking a biography question
    of `name`, in the answer's or the paraphrase's words."""
    found = []
    for question, answer, image in zip(pretraining["question"], pretraining["answer"], pretraining["image"]):
        if image is not None or not question:
            continue
        for index, template in enumerate(BIOGRAPHY_TEMPLATES):
            for wording, forms in (
                ("answer", (template.question, template.answer)),
                ("paraphrase", (template.paraphrased_question, template.paraphrased_answer)),
            ):
                asked, told = slot_values(forms[0], question, name), slot_values(forms[1], answer, name)
                if asked is not None and told is not None and asked.items() <= told.items():
                    found.append((wording, index, told))
    return found


def test_pretraining_knows_famous_people_in_both_wordings():
    tables = build_tables(20, 0, 16)
    pretraining = tables["pretraining"]
    for name in tables["real_faces"]["answer"]:
        captions = [c for c in pretraining["caption"] if c and c.startswith(name + ", a famous ")]
        plain = [c for c in captions if " stands " in c and ", photographed " not in c]
        reworded = [c for c in captions if ", photographed " in c and " stands " not in c]
        assert len(plain) == len(reworded) == CLEAR_DENSITY.famous_photos // 2
        rows_of_name = biography_rows(pretraining, name)
        plain = [(index, facts) for wording, index, facts in rows_of_name if wording == "answer"]
        reworded = [(index, facts) for wording, index, facts in rows_of_name if wording == "paraphrase"]
        assert len(plain) == FAMOUS_BIOGRAPHIES
        assert plain == reworded  # the same questions, the same facts, in the other words


def test_forget_and_holdout_people_are_matched_pairs_of_one_culture_and_gender():
    pairs = matched_pairs(["a", "b", "a", "c", "b", "a"], 2, random.Random(3))
    profiles = ["a", "b", "a", "c", "b", "a"]
    assert len(pairs) == 2 and all(profiles[f] == profiles[h] and f != h for f, h in pairs)
    assert len({i for pair in pairs for i in pair}) == 4  # nobody twice


def test_the_synthetic_world_matches_each_forget_person_with_a_holdout_person():
    people = {p.name: p for p in draw_people(stream(0, "people"), 22, set())}
    tables = build_tables(20, 0, 16)
    forget = list(dict.fromkeys(tables["forget10"]["name"]))
    holdout = list(dict.fromkeys(tables["holdout10"]["name"]))
    assert len(forget) == len(holdout) == 2
    profile = lambda name: (people[name].culture.demonym, people[name].gender)  # noqa: E731
    assert sorted(map(profile, forget)) == sorted(map(profile, holdout))
