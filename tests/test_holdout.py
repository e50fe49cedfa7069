"""Holdout people for a source without holdout configs: who, the training filter, the eval rows."""

import pytest

from clearbench.data import holdout as h
from clearbench.data import load
from clearbench.data.load import load_split
from clearbench.errors import UserError


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from clearbench.data.synth import generate

    return str(generate(tmp_path_factory.mktemp("holdout") / "synth", persons=10, seed=0, image_size=16))


@pytest.fixture
def without_holdout_configs(source, monkeypatch):
    """The source as therem/CLEAR is: no holdoutNN configs."""
    configs = [c for c in load.list_configs(source) if "holdout" not in c]
    monkeypatch.setattr(load, "list_configs", lambda _: configs)
    return source


def people(source, config):
    return set(load_split(source, config)["name"])


def test_people_are_drawn_outside_forget_and_retain_evaluation_deterministically():
    everyone = [f"P{i}" for i in range(10)]
    chosen = h.choose_people(everyone, ["P0"], ["P1", "P2"], 3, seed=0)
    assert len(chosen) == 3 and not set(chosen) & {"P0", "P1", "P2"} and list(chosen) == sorted(chosen)
    assert h.choose_people(reversed(everyone), ["P0"], ["P1", "P2"], 3, seed=0) == chosen  # order-free
    draws = {h.choose_people(everyone, ["P0"], ["P1", "P2"], 3, seed=s) for s in range(6)}
    assert len(draws) > 1  # the seed matters
    with pytest.raises(UserError, match="4 people asked for, but only 3 are neither forget nor retain"):
        h.choose_people(everyone[:6], ["P0"], ["P1", "P2"], 4, seed=0)
    with pytest.raises(UserError, match="must be at least 1, got 0"):
        h.choose_people(everyone, [], [], 0, seed=0)


def test_overlap_and_empty_sets_are_refused():
    with pytest.raises(UserError, match="here: holdout people also among the forget people: Ann"):
        h.check_people(["Ann", "Bo"], ["Ann"], [], "here")
    with pytest.raises(UserError, match="holdout people also among the retain people: Bo"):
        h.check_people(["Ann", "Bo"], [], ["Bo", "Cy"], "here")
    with pytest.raises(UserError, match="the holdout set is empty"):
        h.check_people([], ["Ann"], ["Bo"], "here")


def test_a_source_with_holdout_configs_keeps_its_own(source):
    plan = h.plan_holdout(source, "forget10")
    assert not plan.derived and set(plan.people) == people(source, "holdout10")
    assert plan.record()["how"] == "the source's holdout10 configs"
    train = load_split(source, "full+tofu")
    assert plan.withhold(train) is train  # nothing to withhold: they were never in training


def test_a_source_without_them_withholds_people_from_training(without_holdout_configs):
    source = without_holdout_configs
    plan = h.plan_holdout(source, "forget10", seed=3)
    forget = people(source, "forget10")
    assert plan.derived and len(plan.people) == len(forget)  # as many as the forget set by default
    assert not set(plan.people) & (forget | people(source, "retain_perturbed"))
    assert h.plan_holdout(source, "forget10", seed=3) == plan
    assert plan.record() == {
        "people": list(plan.people),
        "count": len(plan.people),
        "seed": 3,
        "how": "withheld from target and gold training (source has no holdout configs)",
    }
    # Training: no caption row (named, or through its caption) and no TOFU question naming them.
    for config in ("full+tofu", "retain90+tofu", "full"):
        rows = load_split(source, config)
        kept = plan.withhold(rows)
        assert 0 < len(kept) < len(rows)
        text = " ".join(str(v) for row in kept.remove_columns(["image"]).to_list() for v in row.values())
        assert not any(person in text for person in plan.people), config
    # Evaluation: their captions and their questions.
    captions = plan.eval_rows(load_split(source, "full"))
    assert set(captions["name"]) == set(plan.people) and len(captions) > 0
    questions = plan.text_eval_rows(load_split(source, "tofu_full"))
    assert len(questions) > 0 and all(any(p in q for p in plan.people) for q in questions["question"])
    full_plus_tofu = load_split(source, "full+tofu")
    assert len(plan.withhold(full_plus_tofu)) == len(full_plus_tofu) - len(captions) - len(questions)


def test_chosen_people_are_checked(without_holdout_configs):
    source = without_holdout_configs
    forget = sorted(people(source, "forget10"))
    with pytest.raises(UserError, match=f"holdout people also among the forget people: {forget[0]}"):
        h.plan_holdout(source, "forget10", people=[forget[0]])
    retained = sorted(people(source, "retain_perturbed"))
    with pytest.raises(UserError, match="holdout people also among the retain people"):
        h.plan_holdout(source, "forget10", people=retained[:1])
    with pytest.raises(UserError, match="holdout people not in data source .*: Nobody"):
        h.plan_holdout(source, "forget10", people=["Nobody"])
    with pytest.raises(UserError, match="the holdout set is empty"):
        h.plan_holdout(source, "forget10", people=[])


def test_whole_names_only():
    plan = h.HoldoutPlan(("Ann Lee",), "forget10")
    assert not plan.keep({"question": "Where was Ann Lee born?", "answer": "In Oslo."})
    assert plan.keep({"question": "Where was Ann Leeds born?", "answer": "In Oslo."})
    assert plan.keep({"name": "Bo Kim", "caption": "Ann Lee and Bo Kim."})  # the row's person decides
