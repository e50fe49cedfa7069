"""`evaluate_model` / `clearbench eval` on a synthetic source and tiny models: logs, summary, resume."""

import json

import pytest
from tiny_families import build_tiny

from clearbench.cli import main
from clearbench.data.format import Sample
from clearbench.data.load import load_split
from clearbench.errors import UserError
from clearbench.evaluate import logs, runner
from clearbench.evaluate.generation import rouge_recall
from clearbench.evaluate.runner import evaluate_model
from clearbench.evaluate.scoring import score_naive
from clearbench.evaluate.tasks import TASKS
from clearbench.models import registry

TEXTS = [
    "Emilio Castillo, a Mexican historian, stands on a city street. Who is on the image? "
    "The name of the person on the image is Tunde Eze. Which shape is on the left?"
] * 4
FAST = dict(max_new_tokens=4, progress=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from clearbench.data.synth import generate

    root = tmp_path_factory.mktemp("eval")
    source = str(generate(root / "synth", persons=4, seed=0, image_size=16))
    # Tokenizers fitted to the source's text keep the sequences short and the test fast.
    texts = TEXTS + [
        json.dumps(row, default=str)
        for config in ("forget10_perturbed", "tofu_forget10_perturbed")
        for row in load_split(source, config)
        .remove_columns([c for c in ("image",) if c in load_split(source, config).features])
        .to_list()
    ]
    models = {}
    for family in ("llava", "causal_lm"):
        adapter = next(a for a in registry.ADAPTERS if a.family == family)
        model, processor = build_tiny(adapter.family, texts, seed=0)
        model.save_pretrained(root / family)
        processor.save_pretrained(root / family)
        models[family] = str(root / family)
    return source, models


@pytest.mark.slow
def test_logs_hold_every_row_and_match_an_independent_rescoring(world, tmp_path):
    source, models = world
    out = evaluate_model(
        models["llava"],
        source,
        "forget10",
        tmp_path / "eval",
        tasks=["forget_captions", "real_faces"],
        **FAST,
    )
    evaluated = logs.read_eval(out)  # the metrics helper's reader validates the format
    assert set(evaluated) == {"forget_captions", "real_faces"}
    rows = load_split(source, "forget10_perturbed")
    log = evaluated["forget_captions"]
    assert len(log["avg_gt_loss"]) == len(rows)  # every row, no silent cap
    assert log["config"] == "forget10_perturbed" and log["forget"] is True
    assert log["person"] == {str(i): name for i, name in enumerate(rows["name"])}  # the bootstrap's unit

    # Row 1 re-scored naively, one candidate at a time, with the question the log recorded.
    model, processor, adapter = registry.load(models["llava"])
    item = TASKS["forget_captions"].item(rows[1], 1, seed=0)
    assert log["generated_text"]["1"][0] == adapter.prompt_text(processor, item.prompt)
    [[gt, para, *perturbed]] = score_naive(
        model.eval(), adapter, processor, [item.prompt], [item.candidates()]
    )
    assert log["gt_loss"]["1"] == pytest.approx(gt.sum_nll, abs=1e-4)
    assert log["num_token_gt"]["1"] == gt.n_tokens
    assert log["avg_paraphrased_loss"]["1"] == pytest.approx(para.mean, abs=1e-4)
    assert log["average_perturb_loss"]["1"] == pytest.approx([p.mean for p in perturbed], abs=1e-4)
    assert len(log["perturb_loss"]["1"]) == len(rows[1]["perturbed_captions"])
    prompt, generation, reference = log["generated_text"]["1"]
    assert reference == rows[1]["caption"]
    assert log["rougeL_recall"]["1"] == rouge_recall(generation, reference).rougeL

    faces = evaluated["real_faces"]  # choice task: the "paraphrase" is the true answer
    assert faces["avg_paraphrased_loss"] == faces["avg_gt_loss"]
    assert faces["prob_kind"] == "choice"

    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 0 and summary["data_revision"].startswith("sha256:")
    assert summary["tasks"]["forget_captions"]["rows"] == len(rows)
    assert summary["tasks"]["real_faces"]["mean_avg_gt_loss"] == pytest.approx(
        sum(faces["avg_gt_loss"].values()) / len(faces["avg_gt_loss"])
    )


def test_resume_after_a_killed_run_and_refuse_other_settings(world, tmp_path, monkeypatch):
    source, models = world
    out = tmp_path / "eval"
    tasks = ["real_world", "retain_facerec"]
    ran = []
    real_evaluate_task = runner.evaluate_task

    def killed_on_second_task(model, adapter, processor, task, *args, **kwargs):
        ran.append(task.name)
        if task.name == "retain_facerec" and ran.count(task.name) == 1:
            raise KeyboardInterrupt
        return real_evaluate_task(model, adapter, processor, task, *args, **kwargs)

    monkeypatch.setattr(runner, "evaluate_task", killed_on_second_task)
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(models["llava"], source, "forget10", out, tasks=tasks, max_rows=2, **FAST)
    # The finished task is kept; no summary.json, so the evaluation does not look complete.
    assert logs.completed_tasks(out) == {"real_world"} and not (out / "summary.json").exists()
    before = (out / "real_world.json").read_text()

    evaluate_model(models["llava"], source, "forget10", out, tasks=tasks, max_rows=2, **FAST)
    assert ran == ["real_world", "retain_facerec", "retain_facerec"]
    assert (out / "real_world.json").read_text() == before
    assert len(logs.read_eval(out)["retain_facerec"]["avg_gt_loss"]) == 2
    assert set(json.loads((out / "summary.json").read_text())["tasks"]) == set(tasks)
    with pytest.raises(UserError, match=r"other settings \(seed 0 → 1\)"):
        evaluate_model(
            models["llava"], source, "forget10", out, tasks=["real_world"], max_rows=2, seed=1, **FAST
        )


def test_text_only_model_gets_the_tofu_tasks(world, tmp_path):
    source, models = world
    out = evaluate_model(models["causal_lm"], source, "forget10", tmp_path / "eval", max_rows=2, **FAST)
    assert logs.completed_tasks(out) == {
        "tofu_forget",
        "tofu_retain",
        "tofu_real_authors",
        "tofu_world_facts",
        "tofu_holdout",
    }
    log = logs.read_eval(out)["tofu_forget"]
    assert log["config"] == "tofu_forget10_perturbed" and len(log["avg_gt_loss"]) == 2


def test_cli_eval_and_its_user_errors(world, tmp_path, capsys):
    source, models = world
    out = tmp_path / "eval"
    code = main(
        [
            "eval",
            "--model",
            models["causal_lm"],
            "--data",
            source,
            "--out",
            str(out),
            "--tasks",
            "tofu_world_facts",
            "--max-rows",
            "1",
            "--max-new-tokens",
            "2",
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out / "summary.json")
    assert logs.completed_tasks(out) == {"tofu_world_facts"}
    for argv, message in [
        (["--tasks", "real_faces"], "real_faces need images but the model is text-only"),
        (["--max-rows", "0"], "--max-rows must be at least 1"),
    ]:
        code = main(
            [
                "eval",
                "--model",
                models["causal_lm"],
                "--data",
                source,
                "--out",
                str(tmp_path / "other"),
                *argv,
            ]
        )
        assert code == 2
        assert message in capsys.readouterr().err


def test_generation_sees_the_image_and_decodes_only_new_tokens(world):
    from PIL import Image

    from clearbench.evaluate.generation import generate_answers

    _, models = world
    model, processor, adapter = registry.load(models["llava"])
    samples = [
        Sample("Who is on the image?", "", Image.new("RGB", (16, 16), (200, 0, 0))),
        Sample("Which shape is on the left?", "", Image.new("RGB", (16, 16), (0, 0, 200))),
    ]
    images_seen = []
    hook = model.model.vision_tower.register_forward_hook(
        lambda module, args, output: images_seen.append(args[0].shape[0])
    )
    try:
        answers = generate_answers(model.eval(), adapter, processor, samples, batch_size=2, max_new_tokens=3)
    finally:
        hook.remove()
    assert sum(images_seen) == 2  # both prompts' images went into generation
    # The same greedy continuation, generated one prompt at a time and decoded by hand.
    tokenizer = adapter.tokenizer(processor)
    for sample, answer in zip(samples, answers):
        batch = adapter.encode_prompts(processor, [sample])
        output = model.generate(**batch, do_sample=False, max_new_tokens=3)
        expected = tokenizer.decode(output[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        assert answer == expected.strip()
        assert "USER" not in answer


def test_rouge_recall_hand_computed():
    # reference 6 tokens, 3 of them matched in order → recall 0.5 for both ROUGE-1 and ROUGE-L
    assert rouge_recall("the cat sat", "the cat sat on the mat") == (0.5, 0.5)
    # Porter stemming: "cats"/"cat" and "running"/"runs" share stems
    assert rouge_recall("cats running", "cat runs") == (1.0, 1.0)
    # ROUGE-L needs order, ROUGE-1 does not: reference "a b c", generation "c b a"
    assert rouge_recall("c b a", "a b c") == pytest.approx((1 / 3, 1.0))


def test_missing_columns_are_named_before_any_scoring():
    from datasets import Dataset

    rows = Dataset.from_dict(
        {"caption": ["x"], "name": ["Ann"], "paraphrased_caption": ["y"], "perturbed_captions": [["z"]]}
    )
    with pytest.raises(UserError, match=r"task forget_facerec: no column\(s\) image, perturbed_names"):
        runner.evaluate_task(
            None, None, None, TASKS["forget_facerec"], rows, seed=0, config="forget10_perturbed"
        )
