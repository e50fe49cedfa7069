"""A job's identity is everything that changes its numbers: its spec, the thread count, the versions
of the computing libraries and the source of its method. A run folder whose finished jobs were made
otherwise says so (and is redone only on --rerun-changed); `clearbench jobs` plans the whole run and
says why each job would be redone."""

from pathlib import Path

import pytest
import yaml

import clearbench.run.pipeline as pipeline_module
import clearbench.train.finetune as finetune_module
import clearbench.train.unlearn as unlearn_module
from clearbench.cli import main
from clearbench.errors import UserError
from clearbench.jobs.executors import InProcess
from clearbench.jobs.job import differences
from clearbench.run.config import load_config
from clearbench.run.pipeline import Pipeline

FILE_METHOD = """
from clearbench.methods.base import Method, model_nll


class Ascent(Method):
    name = "file_ascent"
    description = "-w NLL(F)"
    data = frozenset({{"forget"}})

    def loss(self, model, batch, ref, step):
        return -{weight} * model_nll(model, batch["forget"]), {{}}
"""


@pytest.fixture
def fake_training(monkeypatch):
    """Training that only makes the output folder, and records each unlearning run's method."""
    calls = []

    def fake_unlearn(model, data, forget, retain, method, out, options=None, **settings):
        calls.append(method)
        Path(out).mkdir(parents=True, exist_ok=True)
        return {"status": "completed"}

    monkeypatch.setattr(unlearn_module, "unlearn", fake_unlearn)
    monkeypatch.setattr(
        finetune_module, "finetune", lambda model, data, split, out, *a, **k: Path(out).mkdir(parents=True)
    )
    return calls


def _train(config, out: Path, **options):
    pipeline = Pipeline(config, out, log=lambda line: None, **options)
    pipeline.data_revision = "sha256:test"
    return pipeline.train_all(InProcess(log=lambda line: None))


def test_editing_a_file_methods_loss_makes_its_job_rerun(tmp_path, fake_training):
    path = tmp_path / "my.py"
    path.write_text(FILE_METHOD.format(weight=1.0))
    spec = f"{path}:Ascent"
    config = load_config(None, [f"unlearn.methods=[{spec}]", "model.pretrain=false"])
    _train(config, tmp_path / "run")
    _train(config, tmp_path / "run")
    assert fake_training == [spec]  # done once, then found done

    path.write_text(FILE_METHOD.format(weight=2.0))  # the loss edited
    message = "1 finished jobs made by other code or settings (my.py edited (1 job)): file_ascent; "
    with pytest.raises(
        UserError, match=f"^{tmp_path / 'run'} holds " + message.replace("(", r"\(").replace(")", r"\)")
    ):
        _train(config, tmp_path / "run")
    assert fake_training == [spec]  # refused before anything ran
    runs = _train(config, tmp_path / "run", rerun_changed=True)
    assert fake_training == [spec, spec]  # the edited method ran; target and gold were not redone
    assert [run.status for run in runs] == ["completed"] * 3


def test_a_spec_difference_is_said_in_words():
    before = {
        "threads": 1,
        "software": {"torch": "2.12.0", "numpy": "2.4.6"},
        "method_code": {"file": "my.py", "sha256": "a"},
        "model": {"job": "finetune-1"},
    }
    now = {
        "threads": 2,
        "software": {"torch": "2.13.0", "numpy": "2.4.6"},
        "method_code": {"file": "my.py", "sha256": "b"},
        "model": {"job": "finetune-2"},
    }
    assert differences(before, now) == [
        "my.py edited",
        "an input job is redone",
        "torch 2.12.0 → 2.13.0",
        "threads 1 → 2",
    ]
    assert differences(now, now) == []


def test_jobs_plans_the_whole_run_and_says_why_a_job_is_redone(
    world, tmp_path, fake_training, monkeypatch, capsys
):
    source, _ = world
    config = load_config(None, [f"data.source={source}", "unlearn.methods=[ga, npo]", "attack.attacks=[]"])
    out = tmp_path / "run"
    _train(config, out)  # the run stopped after training: 5 models, none evaluated
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    (out / "run.json").write_text('{"data_revision": "sha256:test"}')

    assert main(["jobs", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "10 jobs: 5 done, 5 pending; a re-run redoes 5"
    assert [line.split()[0] for line in lines[:-1]] == ["done"] * 5 + ["pending"] * 5
    assert lines[5].split()[1:3] == ["evaluate", "eval"]
    assert "threads" in lines[0]  # its wall time and thread count

    software = {**pipeline_module.computing_software(), "torch": "9.9"}
    monkeypatch.setattr(pipeline_module, "computing_software", lambda: software)
    assert main(["jobs", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "10 jobs: 10 pending; a re-run redoes 10"
    torch = pipeline_module.versions()["torch"]
    assert lines[0].endswith(f"made by other code or settings: torch {torch} → 9.9")


@pytest.mark.parametrize(("overrides", "cpus"), [([], 2), (["jobs.threads=1"], 1), (["jobs.cpus=0.5"], 0.5)])
def test_a_job_asks_ray_for_as_many_cpus_as_it_computes_with(tmp_path, overrides, cpus):
    """A job of 2 threads asking Ray for 1 CPU let a cluster put 2 such jobs on 2 cores."""
    config = load_config(None, ["jobs.threads=2", *overrides])
    pipeline = Pipeline(config, tmp_path, log=lambda line: None)
    pipeline.data_revision = "sha256:0"  # set from the data once a run starts
    assert pipeline._job("evaluate", "eval x").cpus == cpus
