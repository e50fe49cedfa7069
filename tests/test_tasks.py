"""The declarative evaluation tasks: configs, seeded shared questions, candidates, task selection."""

import pytest
from PIL import Image

from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION
from clearbench.errors import UserError
from clearbench.evaluate.tasks import TASKS, select_tasks

IMAGE = Image.new("RGB", (8, 8))
CAPTION_ROW = {
    "image": IMAGE,
    "caption": "Ann reads.",
    "name": "Ann Lee",
    "paraphrased_caption": "Reading: Ann.",
    "perturbed_captions": ["Bo reads.", "Ann runs."],
    "perturbed_names": ["Bo Kim", "Cy Day"],
}


def test_configs_follow_the_forget_split():
    expected = {
        "forget_captions": "forget05_perturbed",
        "retain_captions": "retain_perturbed",
        "forget_facerec": "forget05_perturbed",
        "retain_facerec": "retain_perturbed",
        "real_faces": "real_faces",
        "real_world": "real_world",
        "tofu_forget": "tofu_forget05_perturbed",
        "tofu_retain": "tofu_retain_perturbed",
        "tofu_real_authors": "tofu_real_authors_perturbed",
        "tofu_world_facts": "tofu_world_facts_perturbed",
        "holdout_captions": "holdout05",
        "tofu_holdout": "tofu_holdout05",
        "forget_captions_unseen": "forget05_unseen",
        "retain_captions_unseen": "retain_unseen",
        "forget_facerec_unseen": "forget05_unseen",
        "retain_facerec_unseen": "retain_unseen",
    }
    assert {name: task.config("forget05") for name, task in TASKS.items()} == expected
    with pytest.raises(UserError, match="forget split 'forget5'"):
        TASKS["forget_captions"].config("forget5")


def test_caption_question_is_seeded_per_row_and_shared_by_all_candidates():
    task = TASKS["forget_captions"]
    first = [task.item(CAPTION_ROW, index, seed=0) for index in range(60)]
    again = [task.item(CAPTION_ROW, index, seed=0) for index in range(60)]
    other_seed = [task.item(CAPTION_ROW, index, seed=1) for index in range(60)]
    questions = [item.prompt.question for item in first]
    assert questions == [item.prompt.question for item in again]
    assert questions != [item.prompt.question for item in other_seed]
    assert set(questions) <= set(CAPTION_QUESTIONS) and len(set(questions)) >= 5
    # One prompt per row: answer, paraphrase and perturbations are all scored against it.
    item = first[0]
    assert item.candidates() == ["Ann reads.", "Reading: Ann.", "Bo reads.", "Ann runs."]
    assert item.prompt.image is IMAGE and item.prompt.answer == "Ann reads."
    # The question depends on the task as well: retain captions draw their own.
    retain = [TASKS["retain_captions"].item(CAPTION_ROW, i, seed=0).prompt.question for i in range(60)]
    assert retain != questions


def test_choice_tasks_score_the_true_answer_against_wrong_options():
    item = TASKS["forget_facerec"].item(CAPTION_ROW, 3, seed=0)
    assert item.prompt.question == FACE_QUESTION
    assert (item.answer, item.paraphrase) == ("Ann Lee", "Ann Lee")
    assert item.candidates() == ["Ann Lee", "Bo Kim", "Cy Day"]
    # A copy of the true answer among the options would be counted twice: it is dropped.
    row = {"image": IMAGE, "answer": "Dua Lipa", "options": ["Adele", "Dua Lipa", "Sia"]}
    assert TASKS["real_faces"].item(row, 0, seed=0).candidates() == ["Dua Lipa", "Adele", "Sia"]


def test_column_questions_and_text_only_rows():
    world = {
        "image": IMAGE,
        "question": "Which shape?",
        "prompt": "Which shape? One word.",
        "answer": "circle",
        "options": ["square"],
    }
    assert TASKS["real_world"].item(world, 0, seed=0).prompt.question == "Which shape?"
    tofu = {
        "question": "Who is Ann?",
        "answer": "A writer.",
        "paraphrased_answer": "She writes.",
        "perturbed_answer": ["A cook.", "A pilot."],
        "image": IMAGE,
    }
    item = TASKS["tofu_forget"].item(tofu, 0, seed=0)
    assert item.prompt.image is None  # the text tasks never attach an image
    assert item.candidates() == ["A writer.", "She writes.", "A cook.", "A pilot."]
    facts = TASKS["tofu_world_facts"].item(tofu, 0, seed=0)
    assert facts.candidates() == ["A writer.", "A cook.", "A pilot."]


def test_bad_rows_name_the_task_row_and_column():
    row = {key: value for key, value in CAPTION_ROW.items() if key != "paraphrased_caption"}
    with pytest.raises(UserError, match=r"forget_captions, row 7: no column 'paraphrased_caption'"):
        TASKS["forget_captions"].item(row, 7, seed=0)
    with pytest.raises(UserError, match=r"row 2: column 'perturbed_names' must be a list"):
        TASKS["retain_facerec"].item({**CAPTION_ROW, "perturbed_names": "Bo Kim"}, 2, seed=0)
    with pytest.raises(UserError, match=r"row 0: column 'image' is missing"):
        TASKS["real_faces"].item({"image": None, "answer": "A", "options": ["B"]}, 0, seed=0)
    with pytest.raises(UserError, match=r"row 0: column 'options' holds no alternative"):
        TASKS["real_faces"].item({"image": IMAGE, "answer": "A", "options": ["A"]}, 0, seed=0)


def test_task_selection():
    assert [t.name for t in select_tasks()] == [name for name, task in TASKS.items() if not task.unseen]
    assert [t.name for t in select_tasks(has_vision=False)] == [
        "tofu_forget",
        "tofu_retain",
        "tofu_real_authors",
        "tofu_world_facts",
        "tofu_holdout",
    ]
    assert [t.name for t in select_tasks(["real_faces", "tofu_forget", "real_faces"])] == [
        "real_faces",
        "tofu_forget",
    ]
    with pytest.raises(UserError, match="unknown task.*faces_real"):
        select_tasks(["faces_real"])
    with pytest.raises(UserError, match="real_faces need images but the model is text-only"):
        select_tasks(["real_faces", "tofu_forget"], has_vision=False)


def test_every_task_reads_the_synthetic_source(tmp_path):
    from clearbench.data.load import load_split
    from clearbench.data.synth import generate

    source = str(generate(tmp_path / "synth", persons=4, seed=0, image_size=16))
    for task in TASKS.values():
        rows = load_split(source, task.config("forget10"))
        items = task.items(rows, seed=0)
        assert len(items) == len(rows) > 0
        assert all(len(item.alternatives) >= 1 for item in items) or task.holdout
        assert all((item.prompt.image is None) == task.text_only for item in items)
