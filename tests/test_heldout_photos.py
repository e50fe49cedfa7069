"""Held-out forget photos (data/heldout_photos.py): on a source without unseen photos, part of each
forget person's photos is kept out of unlearning and asked as the forget tasks of unseen photos."""

import json
import re

import pytest

from clearbench.cli import main
from clearbench.data import heldout_photos as hp
from clearbench.data.load import load_split
from clearbench.data.schema import CLEAR_CONFIGS, TOFU_CONFIGS
from clearbench.data.synth.build import build_tables
from clearbench.data.synth.density import Density
from clearbench.data.synth.writer import write_card, write_tables
from clearbench.errors import UserError
from clearbench.evaluate.tasks import TASKS

SMALL = Density(photos=(3, 7), questions=(2, 2), famous=6, famous_photos=1, scenes=4)


def export(folder, density=SMALL, unseen=False):
    """A synthetic world written in CLEAR's layout: CLEAR's and TOFU's configs (and `pretraining`,
    for the tiny model), without holdout configs; with `unseen`, the world's unseen photos too."""
    tables = build_tables(20, 0, 16, density)
    keep = set(CLEAR_CONFIGS) | set(TOFU_CONFIGS) | {"pretraining"}
    tables = {name: table for name, table in tables.items() if name in keep or (unseen and "_unseen" in name)}
    write_tables(folder, tables)
    write_card(folder, tables, 20, 0, 16, density)
    return str(folder)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return export(tmp_path_factory.mktemp("clear-layout"))


@pytest.fixture(scope="module")
def plan(source):
    return hp.plan_heldout_photos(source, "forget10", 0.25, seed=0)


def captions(rows):
    return [c for c in rows["caption"] if c]


# --- the draw ----------------------------------------------------------------------------------
PHOTOS = {"Ann": [f"Ann {i}" for i in range(4)], "Bo": [f"Bo {i}" for i in range(7)], "Cy": ["Cy 0", "Cy 1"]}


def rows_of(photos):
    names = [name for name, own in photos.items() for _ in own]
    return names, [caption for own in photos.values() for caption in own]


def test_the_draw_is_seeded_per_person_and_independent_of_row_order():
    names, texts = rows_of(PHOTOS)
    held, counts = hp.split_photos(names, texts, 0.25, seed=0)
    # round half up of 0.25 · n, at least one held out and one kept: 4 → 1, 7 → 2, 2 → 1
    assert counts == (("Ann", 1, 3), ("Bo", 2, 5), ("Cy", 1, 1))
    for person, count, _ in counts:
        assert len(held & set(PHOTOS[person])) == count
    assert hp.split_photos(names[::-1], texts[::-1], 0.25, seed=0)[0] == held  # order-free
    assert hp.split_photos(names, texts, 0.25, seed=0)[0] == held  # reproducible
    assert len({hp.split_photos(names, texts, 0.25, seed=s)[0] for s in range(8)}) > 1  # the seed matters
    # Each person's draw is their own: another person in the set leaves it as it was.
    more = PHOTOS | {"Di": ["Di 0", "Di 1", "Di 2"]}
    again = hp.split_photos(*rows_of(more), 0.25, seed=0)[0]
    assert again - {"Di 0", "Di 1", "Di 2"} == held
    # Rows sharing a caption are one photo: Bo's 7 photos with one repeated count as 7.
    assert hp.split_photos([*names, "Bo"], [*texts, "Bo 3"], 0.25, seed=0)[1] == counts


def test_shares_round_half_up_and_keep_one_photo_each_side():
    assert [hp.held_count(n, 0.25) for n in (2, 3, 4, 6, 10, 20)] == [1, 1, 1, 2, 3, 5]
    assert hp.held_count(10, 0.01) == 1 and hp.held_count(10, 0.99) == 9 and hp.held_count(2, 0.9) == 1


@pytest.mark.parametrize(
    ("names", "texts", "share", "message"),
    [
        (["Ann", "Ann"], ["a", "b"], 1.0, r"'data.heldout_forget_photos' must be in \(0, 1\).*got 1.0"),
        (["Ann", "Ann"], ["a", "b"], 0.0, r"'data.heldout_forget_photos' must be in \(0, 1\)"),
        (["Ann", "Ann", "Bo"], ["a", "b", "c"], 0.5, r"heldout_forget_photos'.*person Bo has 1 photo"),
        (["Ann", "Ann"], ["a", "a"], 0.5, "person Ann has 1 photo"),  # one caption: one photo
        (["Ann", "Bo"], ["a", "a"], 0.5, "photos of Ann and Bo share the caption 'a'"),
    ],
)
def test_bad_shares_and_too_few_photos_name_the_setting(names, texts, share, message):
    with pytest.raises(UserError, match=message):
        hp.split_photos(names, texts, share, seed=0)


# --- on a source in CLEAR's layout -----------------------------------------------------------
def test_the_forget_sets_lose_exactly_the_held_out_photos(source, plan):
    evaluated = load_split(source, "forget10_perturbed")
    people = sorted(set(evaluated["name"]))
    assert [person for person, _, _ in plan.counts] == people and len(people) == 2
    for person, held, kept in plan.counts:
        own = [c for c, n in zip(evaluated["caption"], evaluated["name"]) if n == person]
        assert (held, kept) == (hp.held_count(len(own), 0.25), len(own) - held)
        assert len(set(own) & plan.captions) == held
    for config in ("forget10", "forget10+tofu"):
        rows = load_split(source, config)
        left = plan.unlearned(rows)
        assert len(rows) - len(left) == len(plan.captions), config  # exactly the held-out rows go
        assert not set(captions(left)) & plan.captions, config
        assert set(captions(rows)) - set(captions(left)) == plan.captions, config
        if "question" in rows.column_names:  # the TOFU rows all stay
            assert sum(q is not None for q in left["question"]) == sum(
                q is not None for q in rows["question"]
            )
    text = load_split(source, "tofu_forget10")
    assert plan.unlearned(text) is text  # the text forget set has no photos
    held, kept = plan.heldout(evaluated), plan.unlearned(evaluated)
    assert sorted(held["caption"]) == sorted(plan.captions)
    assert len(held) + len(kept) == len(evaluated) and not set(held["caption"]) & set(kept["caption"])
    # The same draw from the same share and seed, as every job makes it again from its spec.
    assert hp.plan_heldout_photos(source, "forget10", 0.25, seed=0).captions == plan.captions
    assert hp.plan_heldout_photos(source, "forget10", 0.25, seed=1).captions != plan.captions


def test_the_evaluation_asks_the_kept_photos_as_forget_and_the_held_out_ones_as_unseen(source, plan):
    from clearbench.evaluate.runner import TaskRows

    sources = TaskRows("forget10", photos=plan)
    for name, which in (
        ("forget_captions_unseen", "held-out"),
        ("forget_facerec_unseen", "held-out"),
        ("forget_captions", "unlearned"),
        ("forget_facerec", "unlearned"),
    ):
        task = TASKS[name]
        config = sources.config(task)
        assert config == f"forget10_perturbed ({which} photos)"
        rows = sources.rows(task, config, source, None)
        assert (set(rows["caption"]) <= plan.captions) == (which == "held-out"), name
        assert bool(set(rows["caption"]) & plan.captions) == (which == "held-out"), name
    assert len(sources.rows(TASKS["forget_captions_unseen"], "", source, None)) == len(plan.captions)
    # The retain and text tasks read their configs as ever.
    assert sources.config(TASKS["retain_captions"]) == "retain_perturbed"
    assert sources.config(TASKS["tofu_forget"]) == "tofu_forget10_perturbed"
    with pytest.raises(UserError, match="retain_captions_unseen: held-out forget photos make no unseen"):
        sources.config(TASKS["retain_captions_unseen"])
    # A sequential request's model is asked about its own people's photos, split the same way.
    request = TaskRows("forget05", photos=plan).rows(TASKS["forget_captions_unseen"], "", source, None)
    assert 0 < len(request) < len(plan.captions) and set(request["caption"]) <= plan.captions


def test_unlearning_leaves_the_held_out_photos_out_of_its_forget_rows(source, plan, tmp_path):
    from clearbench.methods import get_method
    from clearbench.train.options import UNLEARN_DEFAULTS, UnlearnOptions
    from clearbench.train.unlearn import UnlearnRun

    def run(photos):
        return UnlearnRun(
            "model", source, "forget10+tofu", "retain90+tofu", "ga", tmp_path, UnlearnOptions(**UNLEARN_DEFAULTS),
            {}, 0, None, None, False, None, None, False, None, photos,
        )  # fmt: skip

    everything, with_plan = run(None).rows()[0], run(plan).rows()[0]
    assert len(everything) - len(with_plan) == len(plan.captions)
    assert not set(captions(with_plan)) & plan.captions
    assert run(plan).request(get_method("ga"))["heldout_photos"] == {
        "share": 0.25, "seed": 0, "forget_split": "forget10",
    }  # fmt: skip
    assert "heldout_photos" not in run(None).request(get_method("ga"))  # other runs keep their request


def test_a_job_draws_the_same_photos_again_from_its_spec(source, plan, tmp_path):
    from clearbench.jobs.work import heldout_photos

    spec = {"data": source, "revision": None, "heldout_photos": plan.spec()}
    assert heldout_photos(spec, tmp_path).captions == plan.captions
    assert heldout_photos({"data": source, "revision": None}, tmp_path) is None


def test_a_config_that_lacks_a_held_out_photo_is_refused(source, plan):
    hp.check_unlearned_config(plan, source, "forget10", "forget10+tofu")  # holds them all
    with pytest.raises(
        UserError, match=r"heldout_forget_photos'.*config 'retain90' lacks \d+ held-out photo"
    ):
        hp.check_unlearned_config(plan, source, "forget10", "retain90")


def test_a_source_with_unseen_photos_of_its_own_is_refused(tmp_path):
    with_unseen = export(tmp_path / "with-unseen", unseen=True)
    with pytest.raises(
        UserError, match=r"heldout_forget_photos'.*has unseen photos of its own \(forget01_unseen"
    ):
        hp.plan_heldout_photos(with_unseen, "forget10", 0.25, seed=0)


# --- the run: settings, jobs, refusals, the report -------------------------------------------
def run_cli(out, *overrides):
    return main(["run", "--out", str(out), *[part for o in overrides for part in ("--set", o)]])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.heldout_forget_photos=1.5"], r"config key 'data.heldout_forget_photos' must be in \(0, 1\)"),
        (["data.heldout_forget_photos=0"], r"config key 'data.heldout_forget_photos' must be in \(0, 1\)"),
        (["data.heldout_forget_photos=-0.2"], r"config key 'data.heldout_forget_photos' must be in \(0, 1\)"),
        (
            ["eval.tasks=[forget_captions,retain_captions_unseen]", "data.heldout_forget_photos=0.25"],
            "config key 'eval.tasks': retain_captions_unseen need unseen photos of retain people",
        ),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, overrides, message):
    out = tmp_path / "run"
    assert run_cli(out, "data.source=/nowhere", *overrides) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_the_synthetic_world_keeps_its_own_unseen_photos(tmp_path, capsys):
    assert run_cli(tmp_path / "run", "data.heldout_forget_photos=0.25") == 2
    assert "'data.heldout_forget_photos': the synthetic world has unseen photos" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["one photo a person", "own unseen photos"])
def test_bad_data_is_refused_before_any_model_loads(tmp_path, capsys, kind):
    if kind == "one photo a person":
        data = export(tmp_path / "data", Density(photos=(1, 1), questions=(2, 2), famous=6, famous_photos=1))
        says = r"'data.heldout_forget_photos' \(forget10_perturbed\): forget person .* has 1 photo"
    else:
        data = export(tmp_path / "data", unseen=True)
        says = "'data.heldout_forget_photos': data source .* has unseen photos of its own"
    out = tmp_path / "run"
    assert run_cli(out, f"data.source={data}", "data.heldout_forget_photos=0.25") == 2
    assert re.search(says, capsys.readouterr().err)
    assert not (out / "jobs").exists()  # nothing trained, no model loaded


def test_the_run_plans_the_held_out_photos_into_unlearning_and_evaluation(source, plan, tmp_path):
    from clearbench.run.config import load_config
    from clearbench.run.pipeline import Pipeline, eval_tasks

    overrides = [f"data.source={source}", "data.heldout_forget_photos=0.25", "unlearn.methods=[ga]"]
    overrides += ["unlearn.modalities=[both,text]", "requests=[forget05,forget10]"]
    config = load_config(None, overrides)
    pipeline = Pipeline(config, tmp_path / "run", log=lambda line: None)
    pipeline.eval_tasks = eval_tasks(config, has_vision=True)
    pipeline.prepare_data()  # checks every forget config of both modalities and requests
    assert pipeline.heldout_photos.captions == plan.captions  # the first training seed's draw
    pipeline.data_revision = "test"
    runs = pipeline.plan_training()
    spec = {"share": 0.25, "seed": 0, "forget_split": "forget10"}
    for run in runs:
        expected = spec if run.kind == "unlearned" and run.modality == "both" else None
        assert run.job.spec.get("heldout_photos") == expected, run.name
    evaluation = pipeline._evaluation(next(run for run in runs if run.kind == "target")).spec
    assert evaluation["heldout_photos"] == spec
    unseen = [name for name in evaluation["tasks"] if name.endswith("_unseen")]
    assert unseen == ["forget_captions_unseen", "forget_facerec_unseen"]  # never the retain ones
    record = pipeline._unseen_record()["unseen_photos"]
    assert record["how"] == "held out" and "not photos no model ever saw" in record["measures"]
    assert {person: tuple(c.values()) for person, c in record["people"].items()} == {
        person: (held, kept) for person, held, kept in plan.counts
    }


def test_the_report_says_which_question_the_unseen_photos_answered(plan):
    from clearbench.report.provenance import provenance_html

    held = " ".join(provenance_html({"unseen_photos": plan.record()}))
    total = sum(held + kept for _, held, kept in plan.counts)
    assert f"{len(plan.captions)} of the {total} photos of 2 forget people in forget10_perturbed" in held
    assert "held out of unlearning" in held and "not photos no model ever saw" in held
    assert "Retain unseen is not measured" in held
    never = " ".join(
        provenance_html({"unseen_photos": {"how": "never seen", "measures": hp.MEASURES["never seen"]}})
    )
    assert "new photos of the forget people that no model trained on" in never and "held out" not in never
    assert "nseen photos" not in " ".join(provenance_html({"seeds": {"train": [0]}}))


@pytest.mark.slow
def test_a_run_unlearns_the_kept_photos_and_asks_the_held_out_ones(source, plan, tmp_path):
    from clearbench.jobs import job_states
    from clearbench.jobs.job import output
    from clearbench.run.config import load_config
    from clearbench.run.pipeline import Pipeline

    settings = [
        f"data.source={source}", "data.heldout_forget_photos=0.25", "pretrain.max_steps=2",
        "finetune.max_steps=2", "unlearn.max_steps=1", "unlearn.methods=[ga]", "eval.max_new_tokens=2",
        "eval.bootstrap=0", "attack.attacks=[]",
    ]  # fmt: skip
    out = tmp_path / "run"
    Pipeline(load_config(None, settings), out, log=lambda line: None).run()
    # `clearbench jobs` plans the same jobs (the evaluations name the same tasks).
    planned = {
        job.key for job in Pipeline(load_config(None, settings), out, log=lambda line: None).plan_all()
    }
    assert {job["key"] for job in job_states(out)} == planned

    assert json.loads((out / "run.json").read_text())["unseen_photos"]["how"] == "held out"
    jobs = {job["name"]: output(out, job["key"]) for job in job_states(out)}
    unlearned = json.loads((jobs["ga"] / "run.json").read_text())
    assert unlearned["forget_rows"] == len(load_split(source, "forget10+tofu")) - len(plan.captions)
    evaluated = len(load_split(source, "forget10_perturbed"))
    for model in ("target", "gold", "ga"):
        held, kept = (
            json.loads((jobs[f"eval {model}"] / f"{name}.json").read_text())
            for name in ("forget_captions_unseen", "forget_captions")
        )
        assert held["config"] == "forget10_perturbed (held-out photos)"
        assert len(held["avg_gt_loss"]) == len(plan.captions)
        assert len(kept["avg_gt_loss"]) == evaluated - len(plan.captions)
        assert not (jobs[f"eval {model}"] / "retain_captions_unseen.json").exists()
    metrics = json.loads((out / "metrics" / "ga.json").read_text())
    assert metrics["forget_unseen"] is not None and metrics["retain_unseen"] is None
    assert "heldout_forget_photos" in metrics["unavailable"]["retain_unseen"]
    assert "held out of unlearning" in (out / "report" / "report.html").read_text()
