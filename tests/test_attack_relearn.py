"""Relearning attack: the per-person split, and training that never sees an evaluation row."""

import pytest
import torch
from attack_world import FAST, build_world
from datasets import Dataset

from clearbench.attacks.base import Source
from clearbench.attacks.relearn import Relearn, attack_split, person_groups, split_rows
from clearbench.attacks.stage import prepare
from clearbench.errors import UserError


def test_split_takes_a_share_of_each_person_and_leaves_one_to_evaluate():
    groups = {"A": list(range(10)), "B": list(range(10, 15)), "C": [15, 16], "": [17]}
    attack, evaluation = split_rows(groups, 0.2, "0:relearn:forget10")
    assert len([i for i in attack if i < 10]) == 2  # round(0.2 · 10)
    assert len([i for i in attack if 10 <= i < 15]) == 1  # round(0.2 · 5)
    assert len([i for i in attack if i in (15, 16)]) == 1  # at least one of two, one left
    assert 17 in evaluation  # a lone row is always evaluated
    assert not set(attack) & set(evaluation) and sorted(attack + evaluation) == list(range(18))
    assert split_rows(groups, 0.2, "0:relearn:forget10") == (attack, evaluation)
    draws = {tuple(split_rows(groups, 0.2, f"{seed}:relearn:forget10")[0]) for seed in range(5)}
    assert len(draws) > 1  # the seed decides which rows
    assert len(split_rows(groups, 0.9, "k")[1]) == 4  # each group keeps one row to evaluate


def test_qa_rows_belong_to_the_person_they_name():
    rows = Dataset.from_dict(
        {
            "question": ["When was Ann Lee born?", "Who wrote it?", "Did Ann Lee meet Bo Chen?"],
            "answer": ["In 1950.", "Bo Chen wrote it.", "Yes."],
        }
    )
    assert person_groups(rows, ["Ann Lee", "Bo Chen"]) == {"Ann Lee": [0], "Bo Chen": [1], "": [2]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("relearn"))


def test_relearning_trains_on_attack_rows_and_evaluates_the_rest(world, tmp_path, monkeypatch):
    source, checkpoint = world
    sources = [Source("model", "unlearned", checkpoint)]
    context, _ = prepare(
        source,
        "forget10",
        sources,
        ["relearn"],
        FAST,
        None,  # every task
        0,
        revision=None,
        trust_remote_code=False,
    )
    split = attack_split(context)
    captions, qa = context.splits["forget_captions"], context.splits["tofu_forget"]
    attack_captions, eval_captions = split["forget10_perturbed"]
    attack_qa, eval_qa = split["tofu_forget10_perturbed"]
    assert len(attack_captions) == round(0.2 * len(captions)) and len(attack_qa) == round(0.2 * len(qa))

    import clearbench.train.data as train_data

    seen = []
    real_loader = train_data.sample_loader
    monkeypatch.setattr(
        train_data, "sample_loader", lambda rows, *a, **k: seen.extend(rows) or real_loader(rows, *a, **k)
    )
    relearn = Relearn()
    variant = relearn.variants(FAST)[0]
    model, _, _ = relearn.derive(variant, sources[0], None, tmp_path, context)

    trained_captions = {row["caption"] for row in seen if "caption" in row}
    trained_questions = {row["question"] for row in seen if "question" in row}
    assert trained_captions == {captions[i]["caption"] for i in attack_captions}
    assert trained_questions == {qa[i]["question"] for i in attack_qa}
    assert not trained_captions & {captions[i]["caption"] for i in eval_captions}
    assert not trained_questions & {qa[i]["question"] for i in eval_qa}
    asked = {task.name: task.rows for task in relearn.tasks(variant, context)}
    assert asked == {
        "forget_captions": tuple(eval_captions),
        "forget_facerec": tuple(eval_captions),
        "tofu_forget": tuple(eval_qa),
    }
    from clearbench.models import registry

    original, _, _ = registry.load(checkpoint)
    moved = [
        not torch.equal(a, b) for a, b in zip(original.state_dict().values(), model.state_dict().values())
    ]
    assert any(moved)


def test_a_fraction_leaving_no_attack_row_is_refused_before_training(world):
    source, checkpoint = world
    sources = [Source("model", "unlearned", checkpoint)]
    with pytest.raises(UserError, match="relearn_fraction"):
        prepare(
            source, "forget10", sources, ["relearn"], type(FAST)(relearn_fraction=1.0), None, 0,
            revision=None, trust_remote_code=False,
        )  # fmt: skip


def test_relearning_with_lora_saves_a_merged_checkpoint_that_moved(world, tmp_path):
    source, checkpoint = world
    sources = [Source("model", "unlearned", checkpoint)]
    options = type(FAST)(**{**FAST.__dict__, "relearn_lora_r": 4})
    context, _ = prepare(
        source,
        "forget10",
        sources,
        ["relearn"],
        options,
        None,  # every task
        0,
        revision=None,
        trust_remote_code=False,
    )
    relearn = Relearn()
    model, _, _ = relearn.derive(relearn.variants(options)[0], sources[0], None, tmp_path, context)
    assert not any("lora" in name for name in model.state_dict())
    from clearbench.models import registry

    original, _, _ = registry.load(checkpoint)
    moved = [
        name
        for name, value in original.state_dict().items()
        if not torch.equal(value, model.state_dict()[name])
    ]
    assert moved and all("language_model" in name for name in moved)
