"""Unseen photos (data/synth/unseen.py): new photos of a person that no training config holds, drawn
without changing anything else in the world."""

import random

import numpy as np

from clearbench.data.synth import build
from clearbench.data.synth.density import Density
from clearbench.data.synth.faces import draw_identity, draw_look
from clearbench.data.synth.scenes import LIGHTS, SCENES, render_photo
from clearbench.data.synth.unseen import UNSEEN_PHOTOS

SMALL = Density(photos=(3, 3), questions=(2, 2), famous=6, famous_photos=1, scenes=4)
TRAINING = ("full", "full+tofu", "retain90+tofu", "forget10+tofu", "pretraining")


def small_world():
    return build.build_tables(30, 3, 16, SMALL)


def test_unseen_photos_leave_every_other_row_byte_identical(monkeypatch):
    with_unseen = small_world()
    monkeypatch.setattr(build, "unseen_tables", lambda *args: {})
    without = small_world()
    assert set(with_unseen) - set(without) == {
        "forget01_unseen", "forget05_unseen", "forget10_unseen", "retain_unseen",
        "holdout01_unseen", "holdout05_unseen", "holdout10_unseen",
    }  # fmt: skip
    for config, table in without.items():
        assert with_unseen[config] == table, config


def names(table):
    return list(dict.fromkeys(table["name"]))


def test_unseen_photos_are_new_photos_of_the_evaluated_people():
    tables = small_world()
    trained = {image for config in TRAINING for image in tables[config]["image"] if image}
    for config in ("forget10_unseen", "retain_unseen", "holdout10_unseen"):
        assert not trained & set(tables[config]["image"]), config  # no training config holds them
    pairs = (("forget10", "forget10_unseen"), ("retain_perturbed", "retain_unseen"))
    pairs += (("holdout10", "holdout10_unseen"),)
    for seen, unseen in pairs:
        assert names(tables[unseen]) == names(tables[seen])
        counts = [tables[unseen]["name"].count(name) for name in names(tables[seen])]
        assert counts == [UNSEEN_PHOTOS] * len(counts)
    # Nested like forgetNN: forget01's rows are forget10's rows of the same person.
    first = tables["forget01_unseen"]
    rows10 = list(zip(*tables["forget10_unseen"].values()))
    assert all(row in rows10 for row in zip(*first.values()))
    # Three training photos a person leave a scene and a light unused: every unseen photo has both.
    for name, text in zip(tables["forget10_unseen"]["name"], tables["forget10_unseen"]["caption"]):
        own = [c for n, c in zip(tables["forget10"]["name"], tables["forget10"]["caption"]) if n == name]
        for phrases in (SCENES, LIGHTS):
            phrase = next(phrase for phrase in phrases.values() if phrase in text)
            assert not any(phrase in caption for caption in own), (text, own)


def test_the_age_cue_changes_the_face_and_nothing_when_off():
    face = draw_identity(random.Random(1), "woman", 1980)
    look = draw_look(random.Random(2))
    plain = np.asarray(render_photo(48, face, look, "office", "daylight", random.Random(3)), dtype=int)
    again = np.asarray(render_photo(48, face, look, "office", "daylight", random.Random(3), aged=False))
    aged = np.asarray(render_photo(48, face, look, "office", "daylight", random.Random(3), aged=True))
    assert (plain == again).all()
    changed = np.argwhere(np.abs(aged - plain).sum(axis=2) > 30)
    assert len(changed) > 10
    # Only the head changes (the upper middle of the photo), never the background's corners.
    assert changed[:, 0].max() < 48 * 0.6 and 48 * 0.2 < changed[:, 1].mean() < 48 * 0.8
