"""Data integrity: no forget person's row, caption, question or photo in a retain, holdout or real
set (`data check` names config, row and column), and holdout people are neither forget nor retain."""

from __future__ import annotations

import pytest

from clearbench.data.audit import check_source
from clearbench.data.holdout import check_named
from clearbench.errors import UserError
from hostile.helpers import read_table, write_table


def append_row(source, config: str, row: dict) -> int:
    table = read_table(source, config)
    for column in table:
        table[column].append(row.get(column))
    write_table(source, config, table)
    return len(table[next(iter(table))]) - 1


def problems(source) -> list[str]:
    return [str(problem) for problem in check_source(str(source)).problems]


def test_the_generated_world_keeps_forget_content_apart(pristine):
    assert not [p for p in problems(pristine) if "forget content" in p]


def test_a_forget_row_in_the_gold_training_set_is_found(source):
    forget = read_table(source, "forget10+tofu")
    image_row = next(i for i, caption in enumerate(forget["caption"]) if caption)
    row = append_row(source, "retain90+tofu", {column: forget[column][image_row] for column in forget})
    found = [p for p in problems(source) if p.startswith(f"config 'retain90+tofu', row {row}")]
    assert any("column 'caption': holds a caption of 'forget10'" in p for p in found), found
    assert any("column 'image': holds a photo of 'forget10'" in p for p in found), found


def test_a_forget_question_in_the_text_retain_set_is_found(source):
    question = read_table(source, "tofu_forget10")
    row = append_row(source, "tofu_retain90", {"question": question["question"][0], "answer": "x"})
    assert (
        f"config 'tofu_retain90', row {row}, column 'question': holds a question of 'forget10' "
        "(forget content outside it)" in problems(source)
    )


def test_a_forget_photo_under_another_name_in_a_holdout_set_is_found(source):
    forget = read_table(source, "forget10")
    holdout = read_table(source, "holdout10")
    row = append_row(
        source,
        "holdout10",
        {"image": forget["image"][0], "caption": "someone new", "name": holdout["name"][0]},
    )
    assert any(
        p.startswith(f"config 'holdout10', row {row}, column 'image': holds a photo of 'forget10'")
        for p in problems(source)
    )


@pytest.mark.parametrize("config, role", [("forget10", "forget"), ("retain_perturbed", "retain")])
def test_eval_holdout_people_must_be_outside_forget_and_retain(pristine, tmp_path, config, role):
    """`eval --holdout-people` (and a job spec's names): a forget or retain person is a member."""
    from clearbench.evaluate.runner import evaluate_model

    person = read_table(pristine, config)["name"][0]
    with pytest.raises(UserError, match=f"holdout people also among the {role} people: {person}"):
        evaluate_model("no-model", str(pristine), "forget10", tmp_path / "eval", holdout=[person])
    assert not (tmp_path / "eval").exists()


def test_holdout_people_named_must_be_people_of_the_source(pristine):
    with pytest.raises(UserError, match="holdout people not in data source .* Nobody Known"):
        check_named(str(pristine), "forget10", ["Nobody Known"])
