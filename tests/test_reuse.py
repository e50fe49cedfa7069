"""Reference artefacts: a run adopts an earlier run's base, target and gold (and their eval logs)
instead of training them, and gets the same results; an earlier run made with other data or settings
is refused naming what differs; `clearbench export` writes a shareable folder, with model cards, that
is itself reusable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clearbench import cli
from clearbench.errors import UserError
from clearbench.run.config import load_config
from clearbench.run.reuse import adopt_reference_models, reference_jobs

SMALL = [
    "data.persons=5",
    "pretrain.max_steps=4",
    "finetune.max_steps=8",
    "unlearn.max_steps=2",
    "unlearn.methods=[ga]",
    "eval.max_rows=3",
    "eval.max_new_tokens=6",
    "eval.batch_size=8",
]


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    from clearbench.run.pipeline import Pipeline

    out = tmp_path_factory.mktemp("original")
    Pipeline(load_config(None, SMALL), out, log=lambda line: None).run()
    return out


def new_run_data(run_dir: Path, config) -> str:
    """The new run's data as its data stage makes it, and the revision it has: what `--reuse` is checked
    against before any training."""
    from clearbench.data.load import dataset_revision
    from clearbench.data.synth import generate

    generate(
        run_dir / "data",
        persons=config.data.persons,
        seed=config.data.seed,
        image_size=config.data.image_size,
    )
    return dataset_revision(str(run_dir / "data"))


def metrics(run_dir: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((run_dir / "metrics").glob("*.json"))}


def outputs(run_dir: Path) -> dict[str, Path]:
    from clearbench.jobs.job import output

    return {job.name: output(run_dir, job.key) for job in reference_jobs(run_dir)}


@pytest.mark.slow
def test_a_reusing_run_trains_no_reference_model_and_gives_the_same_results(original, tmp_path, monkeypatch):
    from clearbench.run.pipeline import Pipeline
    from clearbench.train import finetune

    config = load_config(None, SMALL)
    new = tmp_path / "new"

    def no_training(*args, **kwargs):
        raise AssertionError("a reference model was trained again")

    monkeypatch.setattr(finetune, "finetune", no_training)
    lines = []
    Pipeline(config, new, log=lines.append, reuse=original).run()  # clearbench run --reuse ORIGINAL
    assert f"[reuse] adopted base, target, gold from {original}" in lines
    for name, path in outputs(original).items():  # the same files, linked, not copied
        assert os.path.samefile(outputs(new)[name] / "model.safetensors", path / "model.safetensors")
    reused, first = metrics(new), metrics(original)
    assert set(reused) == set(first) == {"base", "target", "gold", "ga"}
    for name in ("base", "target", "gold"):
        assert reused[name] == first[name], name
    for task, values in first["ga"]["tasks"].items():  # ga trained again from the adopted target
        assert reused["ga"]["tasks"][task] == pytest.approx(values, rel=1e-5), task


@pytest.mark.slow
def test_other_data_or_settings_are_refused_naming_what_differs(original, tmp_path):
    config = load_config(None, SMALL)
    revision = json.loads((original / "run.json").read_text())["data_revision"]
    changed = load_config(None, SMALL + ["finetune.max_steps=9", "model.pretrain=false"]).to_dict()
    with pytest.raises(UserError) as refused:
        adopt_reference_models(original, tmp_path / "a", changed, "sha256:other")
    message = str(refused.value)
    assert message.startswith(
        f"--reuse {original}: its reference models were made with other data or settings ("
    )
    for change in (
        f"data revision: {revision!r} → 'sha256:other'",
        "finetune.max_steps: 8 → 9",
        "model.pretrain: True → False",
    ):
        assert change in message
    assert not (tmp_path / "a").exists()
    # Other eval settings: the models are adopted, their evaluations are not (they are redone).
    other_eval = load_config(None, SMALL + ["eval.max_rows=2"]).to_dict()
    adopted = adopt_reference_models(original, tmp_path / "b", other_eval, revision)
    assert adopted["models"] == ["base", "target", "gold"] and adopted["eval_logs"] == []
    assert adopted["eval_differs"] == ["eval.max_rows: 3 → 2"]
    assert set(os.listdir(tmp_path / "b" / "jobs")) == {job.key for job in reference_jobs(original)}
    with pytest.raises(UserError, match="no config.yaml; is it a `clearbench run` folder"):
        adopt_reference_models(tmp_path, tmp_path / "c", config.to_dict(), revision)
    with pytest.raises(UserError, match="a Hub repository needs the network, and HF_HUB_OFFLINE is set"):
        adopt_reference_models("someone/clear-reference", tmp_path / "d", config.to_dict(), revision)


def export(monkeypatch, *args) -> int:
    monkeypatch.setattr(
        cli, "COMMANDS", (*cli.COMMANDS, "export") if "export" not in cli.COMMANDS else cli.COMMANDS
    )
    return cli.main(["export", *map(str, args)])


@pytest.mark.slow
def test_export_writes_cards_logs_metrics_and_a_reusable_layout(original, tmp_path, monkeypatch, capsys):
    from huggingface_hub import ModelCard

    out = tmp_path / "shared"
    assert export(monkeypatch, original, out) == 0
    jobs = {job.name: job for job in reference_jobs(out)}
    assert set(jobs) == {"base", "target", "gold"}  # read back from the export like from a run
    card = ModelCard.load(out / "README.md")
    assert (
        "clearbench" in card.data.tags
        and "| target | target |" in card.text
        and "## Leaderboard" in card.text
    )
    for name in ("target", "gold"):
        checkpoint = out / "jobs" / jobs[name].key / "output"
        model_card = ModelCard.load(checkpoint / "README.md")
        assert (
            model_card.data.library_name == "transformers"
            and f"# {name}: the {name} model" in model_card.text
        )
        assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "config.json").is_file()
        evaluation = out / "jobs" / jobs[name].eval_key / "output"
        assert (evaluation / "summary.json").is_file() and (evaluation / "forget_captions.json").is_file()
        assert json.loads((out / "metrics" / f"{name}.json").read_text()) == metrics(original)[name]
    assert (out / "report" / "leaderboard.md").is_file() and (out / "runs.json").is_file()
    ga_job = next(e["job"] for e in json.loads((original / "runs.json").read_text()) if e["name"] == "ga")
    assert not (out / "jobs" / ga_job).exists()  # unlearned checkpoints stay home
    assert all(p.is_file() or p.is_dir() for p in out.rglob("*")) and not any(
        p.is_symlink() for p in out.rglob("*")
    )
    # The export is an earlier run for --reuse
    config = load_config(None, SMALL)
    revision = json.loads((out / "run.json").read_text())["data_revision"]
    adopted = adopt_reference_models(out, tmp_path / "again", config.to_dict(), revision)
    assert adopted["eval_logs"] == ["base", "target", "gold"]

    capsys.readouterr()
    assert export(monkeypatch, original, out) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert export(monkeypatch, original, tmp_path / "pushed", "--push-to-hub", "someone/clear-ref") == 2
    assert "--push-to-hub someone/clear-ref: HF_HUB_OFFLINE is set" in capsys.readouterr().err
    assert not (tmp_path / "pushed").exists()
