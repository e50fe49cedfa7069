"""`clearbench run` with a visual-track config, end to end on a 10-person world at 16 px (1 person
forgotten, 4 splits, 2-channel ResNet, one epoch): the plumbing, not the numbers."""

import json

import pytest
import yaml

from clearbench.cli import main
from clearbench.visual.config import load_visual_config

TINY = {
    "track": "visual",
    "data": {"resolution": 16, "enroll": 3, "face_box": [0.2, 0.0, 0.8, 0.7]},
    "model": {"width": 2},
    "pretrain": {"epochs": 1, "batch_size": 64},
    "finetune": {"epochs": 1, "batch_size": 64},
    "splits": {"count": 4, "retain_people": 3},
    "methods": ["gold", "scrub_bio"],
    "hparams": {"scrub_bio": {"epochs": 1}},
    "report": {"bootstrap": 20},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from clearbench.data.synth import generate

    root = tmp_path_factory.mktemp("visual")
    source = generate(root / "data", persons=10, seed=0, image_size=16)
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "data": {**TINY["data"], "source": str(source)}}))
    return root, config


def test_the_preset_loads_with_the_official_method_defaults():
    config = load_visual_config("visual")
    assert config.splits.count >= 16 and config.model.width == 16
    assert "twins" in config.methods and "scrub_bio" in config.methods


def test_a_tiny_run_writes_the_table_and_resumes(tiny, capsys):
    root, config = tiny
    out = root / "run"
    assert main(["run", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| scrub_bio |" in printed and "*paper*" in printed
    results = json.loads((out / "visual" / "results.json").read_text())
    assert list(results["rows"]) == ["original", "gold", "scrub_bio"]
    for row in results["rows"].values():
        assert 0 <= row["u_lira"]["low"] <= row["u_lira"]["mean"] <= row["u_lira"]["high"] <= 1
    assert (out / "visual" / "ulira_vs_retain.png").stat().st_size > 0
    # 1 pretrain + 4 splits × (original, gold, scrub_bio); a re-run trains nothing and agrees
    assert len(list((out / "jobs").iterdir())) == 13
    assert main(["run", str(config), "--out", str(out)]) == 0
    assert json.loads((out / "visual" / "results.json").read_text())["rows"] == results["rows"]


@pytest.mark.parametrize(
    "override, says",
    [
        ("splits.retain_people=10", "retain_people': 10 retained people per split asked, but only 9"),
        ("data.enroll=9", "fewer than 10 images"),
        ("methods=[gold,unlearn_everything]", "unknown visual method 'unlearn_everything'"),
        ("splits.count=6", "multiple of 4"),
    ],
)
def test_bad_input_is_refused_before_training(tiny, capsys, override, says):
    root, config = tiny
    out = root / f"bad-{override.split('=')[0]}"
    assert main(["run", str(config), "--out", str(out), "--set", override]) == 2
    assert says in capsys.readouterr().err
    assert not (out / "jobs").exists()


def test_jobs_are_planned_method_by_method():
    from clearbench.visual.run import plan_jobs
    from clearbench.visual.splits import plan_splits

    config = load_visual_config("visual", ["splits.count=4"])
    splits = plan_splits(["f"], ["h"], [f"o{i}" for i in range(30)], 4, 20, seed=0)
    jobs, by_method = plan_jobs(config, splits, "digest")
    names = [job.name for job in jobs]
    assert len(jobs) == 1 + 4 * (1 + len(config.methods))
    assert names[:6] == [
        "visual pretrain",
        *[f"visual original [split {i}]" for i in range(4)],
        "visual gold [split 0]",
    ]
    assert by_method["scrub"][2].needs == [by_method["original"][2].key]  # unlearns its split's original
    assert by_method["gold"][2].needs == [jobs[0].key]  # retrained from the pretrained embedder
    assert len({job.key for job in jobs}) == len(jobs)
