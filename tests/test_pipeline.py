"""`clearbench run` end to end on a very small tiny world: outputs, skipping, failures, kill + resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clearbench.errors import UserError
from clearbench.run.config import load_config
from clearbench.run.pipeline import Pipeline

SMALL = [
    "data.persons=5",
    "pretrain.max_steps=4",
    "finetune.max_steps=8",
    "finetune.save_every=2",
    "unlearn.max_steps=2",
    "unlearn.methods=[ga]",
    "eval.max_rows=3",
    "eval.max_new_tokens=6",
    "eval.batch_size=8",
    "attack.relearn_steps=2",
    "attack.quantize=[int4]",
    "attack.queries=[reworded, noise]",
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    Pipeline(load_config(None, SMALL), out, log=lambda line: None).run()
    return out


def job_output(run_dir: Path, name: str) -> Path | None:
    """The output folder of the run's job called `name` (None until it is planned)."""
    from clearbench.jobs import job_states
    from clearbench.jobs.job import output

    keys = [job["key"] for job in job_states(run_dir) if job["name"] == name]
    return output(run_dir, keys[0]) if keys else None


def _metrics(run_dir: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((run_dir / "metrics").glob("*.json"))}


@pytest.mark.slow
def test_run_produces_every_stage_and_a_report(small_run):
    for model in ("base", "target", "gold", "ga"):
        assert (job_output(small_run, model) / "config.json").is_file(), model
    assert set(_metrics(small_run)) == {"base", "target", "gold", "ga"}
    assert _metrics(small_run)["gold"]["forget_quality"] == pytest.approx(1.0)
    leaderboard = (small_run / "report" / "leaderboard.md").read_text()
    for row in ("gold", "target", "ga"):
        assert f"| {row} |" in leaderboard or f"| *{row}* |" in leaderboard
    assert (small_run / "report" / "report.html").is_file()
    robustness = (small_run / "report" / "robustness.csv").read_text()
    for variant in ("relearn", "quantize-int4", "queries-reworded", "queries-noise"):
        row = next(line for line in robustness.splitlines() if line.startswith(f"ga,{variant},"))
        assert row.endswith(",completed"), row  # the attack ran, not just its row
    recorded = json.loads((small_run / "run.json").read_text())
    assert recorded["versions"]["torch"] and recorded["seeds"] == {"train": [0], "unlearn": [0]}
    assert recorded["data_revision"].startswith("sha256:")


@pytest.mark.slow
def test_rerun_skips_completed_stages(small_run):
    weights = job_output(small_run, "target") / "model.safetensors"
    before = weights.stat().st_mtime_ns
    started = time.perf_counter()
    Pipeline(load_config(None, SMALL), small_run, log=lambda line: None).run()
    assert weights.stat().st_mtime_ns == before
    assert time.perf_counter() - started < 30


def test_resuming_with_another_config_is_refused(small_run):
    with pytest.raises(UserError, match="different config"):
        Pipeline(load_config(None, SMALL + ["unlearn.epochs=9"]), small_run).run()


@pytest.mark.parametrize(
    "setting, adopted",
    [(None, True), ("eval.max_rows=3", False), ("eval.membership_k=0.1", False), ("eval.batch_size=4", True)],
)
def test_attacks_adopt_the_evaluation_only_when_it_asked_the_forget_rows_as_they_would(
    setting, adopted, tmp_path
):
    """The attacks' clean variant takes the run's evaluation logs (tests/test_attack_stage.py) when
    the evaluation's settings are those an attack evaluates with; more or fewer rows, or other
    membership scores, and it asks the forget tasks itself."""
    pipeline = Pipeline(load_config(None, [setting] if setting else []), tmp_path, log=lambda line: None)
    pipeline.data_revision = "sha256:test"
    target = next(run for run in pipeline.plan_training() if run.kind == "target")
    clean = pipeline._attack(target).spec.get("clean")
    assert clean == ({"job": pipeline._evaluation(target).key} if adopted else None)


def test_failed_and_diverged_methods_are_reported_and_the_others_kept(tmp_path, monkeypatch):
    import clearbench.train.finetune as finetune_module
    import clearbench.train.unlearn as unlearn_module
    from clearbench.jobs.executors import InProcess

    def fake_unlearn(model, data, forget, retain, method, out, options=None, **settings):
        if method == "npo":
            raise RuntimeError("CUDA out of memory")
        if method == "ga":
            return {"status": "diverged", "reason": "loss became inf at step 3"}
        Path(out).mkdir(parents=True)
        return {"status": "completed"}

    monkeypatch.setattr(unlearn_module, "unlearn", fake_unlearn)
    monkeypatch.setattr(
        finetune_module, "finetune", lambda model, data, split, out, *a, **k: Path(out).mkdir()
    )
    config = load_config(None, ["unlearn.methods=[ga, npo, idk]"])
    pipeline = Pipeline(config, tmp_path, log=lambda line: None)
    pipeline.data_revision = "sha256:test"
    runs = [run for run in pipeline.train_all(InProcess()) if run.kind == "unlearned"]
    assert [(r.name, r.status) for r in runs] == [("ga", "diverged"), ("npo", "failed"), ("idk", "completed")]
    assert "CUDA out of memory" in runs[1].error and "inf" in runs[0].error

    reporter = Pipeline(config, tmp_path, log=lambda line: None)
    report = reporter.report(runs)
    assert reporter.failed == ["npo"]  # `clearbench run` exits 1 naming it (tests/hostile/test_failures.py)
    leaderboard = (report / "leaderboard.md").read_text()
    assert "CUDA out of memory" in leaderboard and "loss became inf" in leaderboard


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_results(small_run, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "clearbench.cli", "run", "--out", str(out)]
    for override in SMALL:
        command += ["--set", override]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline, target = time.time() + 300, None
    while time.time() < deadline and process.poll() is None:
        target = target or job_output(out, "target")
        log = target / "train_log.jsonl" if target else None
        if log and log.exists() and len(log.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed mid-training"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (target / "config.json").exists()

    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    resumed, uninterrupted = _metrics(out), _metrics(small_run)
    assert set(resumed) == set(uninterrupted)
    for name, metrics in uninterrupted.items():
        for task, values in metrics["tasks"].items():
            assert resumed[name]["tasks"][task] == pytest.approx(values, rel=1e-5), (name, task)


@pytest.mark.parametrize("written_already", [False, True])
def test_every_process_meets_at_the_config_barrier(tmp_path, written_already):
    """A process that finds config.yaml already written (the main one was quicker) still waits
    for the others: a skipped barrier pairs each later one with the wrong step elsewhere (CI saw
    rank 1 check data that rank 0 was still generating)."""
    from types import SimpleNamespace

    import yaml

    pipeline = Pipeline(load_config(None, SMALL), tmp_path, log=lambda line: None)
    if written_already:
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(pipeline.config.to_dict(), sort_keys=False))
    barriers = []
    pipeline.state = SimpleNamespace(is_main_process=False, wait_for_everyone=lambda: barriers.append(1))
    pipeline._record_config()
    assert barriers == [1]
    assert (tmp_path / "config.yaml").exists() == written_already  # only the main process writes


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # processes of its own: one such test at a time
def test_two_cpu_processes_under_accelerate_launch(tmp_path):
    out = tmp_path / "ddp"
    config = Path(__file__).parents[1] / "configs" / "accelerate" / "cpu_ddp.yaml"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "-m",
        "clearbench.cli",
        "run",
        "--out",
        str(out),
    ]
    for override in SMALL + ["unlearn.methods=[ga, npo]"]:
        command += ["--set", override]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads((job_output(out, "target") / "run.json").read_text())["processes"] == 2
    assert set(_metrics(out)) == {"base", "target", "gold", "ga", "npo"}
    assert finished.stdout.count("[train] done") == 1  # stage lines come from the main process only


@pytest.mark.slow
def test_report_command_rebuilds_the_report_with_another_retain_line(small_run):
    from clearbench.cli import main

    leaderboard = small_run / "report" / "leaderboard.csv"
    saved = {p.name: p.read_text() for p in (small_run / "report").glob("*.*")}
    # A line at the top of Retain's range sets every method apart, never a reference (gold, target,
    # base); a line of 0 sets none apart.
    assert main(["report", str(small_run), "--retain-fail-threshold", "1"]) == 0
    rows = list(csv.DictReader(leaderboard.read_text().splitlines()))
    methods = [row for row in rows if row["kind"] == "unlearned" and row["status"] == "completed"]
    assert methods and all(row["fails_on_retain"] == "true" for row in methods)
    assert all(row["fails_on_retain"] == "false" for row in rows if row["kind"] != "unlearned")
    assert main(["report", str(small_run), "--retain-fail-threshold", "0"]) == 0
    assert all(",false," in row for row in leaderboard.read_text().splitlines()[1:])
    # The run's own line is the default: the original report comes back.
    assert main(["report", str(small_run)]) == 0
    assert leaderboard.read_text() == saved["leaderboard.csv"]
    # Training logs are recorded relative to the run, so a moved run directory still reports them.
    logs = [record["train_log"] for record in json.loads((small_run / "runs.json").read_text())]
    ga = job_output(small_run, "ga").relative_to(small_run)
    assert f"{ga.as_posix()}/train_log.jsonl" in logs


def test_report_command_names_a_directory_that_is_not_a_run(tmp_path, capsys):
    from clearbench.cli import main

    assert main(["report", str(tmp_path)]) == 2
    assert "config.yaml" in capsys.readouterr().err
