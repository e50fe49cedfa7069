"""A run on a source without holdout configs (as therem/CLEAR) withholds people from every training
set, records them, and evaluates them as the non-members of the membership attacks."""

import json

import pytest

from clearbench.data import load
from clearbench.jobs import job_states
from clearbench.jobs.job import output
from clearbench.run.config import load_config
from clearbench.run.pipeline import Pipeline


@pytest.mark.slow
def test_people_are_withheld_from_training_and_asked_as_non_members(tmp_path, monkeypatch):
    from clearbench.data.synth import generate

    source = str(generate(tmp_path / "synth", persons=10, seed=0, image_size=16))
    configs = [c for c in load.list_configs(source) if "holdout" not in c]
    monkeypatch.setattr(load, "list_configs", lambda _: configs)
    settings = [
        f"data.source={source}",
        "pretrain.max_steps=2",
        "finetune.max_steps=2",
        "unlearn.max_steps=1",
        "unlearn.methods=[ga]",
        "eval.max_rows=4",
        "eval.max_new_tokens=2",
        "eval.bootstrap=0",
        "attack.attacks=[]",
    ]
    out = tmp_path / "run"
    Pipeline(load_config(None, settings), out, log=lambda line: None).run()

    record = json.loads((out / "run.json").read_text())["holdout"]
    assert record["count"] == 1 and record["how"].startswith("withheld from target and gold training")
    people = record["people"]
    jobs = {job["name"]: output(out, job["key"]) for job in job_states(out)}
    for name in ("target", "gold", "ga"):
        assert json.loads((jobs[name] / "run.json").read_text())["request"]["withheld"] == people, name
    assert "withheld" not in json.loads((jobs["base"] / "run.json").read_text())["request"]
    captions = json.loads((jobs["eval target"] / "holdout_captions.json").read_text())
    assert len(captions["avg_gt_loss"]) > 0
    metrics = json.loads((out / "metrics" / "target.json").read_text())
    assert metrics["mia_auc"] is not None
