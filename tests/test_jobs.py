"""Jobs: content-addressed folders, states, dependency order, failures, and the `jobs` command."""

import json

import pytest

from clearbench.cli import main
from clearbench.errors import UserError
from clearbench.jobs import Job, job_states, read_state, work
from clearbench.jobs.executors import InProcess, _waves, local_cpus


def test_the_folder_is_named_by_the_kind_and_spec_only():
    a = Job("finetune", "target", {"seed": 0, "model": "tiny"})
    assert a.key == Job("finetune", "another name", {"model": "tiny", "seed": 0}, cpus=4).key
    assert a.key != Job("finetune", "target", {"seed": 1, "model": "tiny"}).key
    assert a.key != Job("unlearn", "target", {"seed": 0, "model": "tiny"}).key
    assert a.key.startswith("finetune-")


def test_a_job_needs_the_jobs_its_spec_names():
    job = Job(
        "unlearn", "ga", {"model": {"job": "finetune-1"}, "extra": [{"job": "finetune-2"}], "x": {"a": 1}}
    )
    assert job.needs == ["finetune-1", "finetune-2"]


def test_waves_follow_dependencies_and_refuse_a_cycle():
    a = Job("k", "a", {"n": 1})
    b = Job("k", "b", {"model": {"job": a.key}})
    c = Job("k", "c", {"model": {"job": b.key}, "other": {"job": a.key}})
    assert [[job.name for job in wave] for wave in _waves([c, b, a])] == [["a"], ["b"], ["c"]]
    x, y = Job("k", "x", {"n": 2}), Job("k", "y", {"n": 3})
    x.key, y.key = "x", "y"
    x.spec, y.spec = {"model": {"job": "y"}}, {"model": {"job": "x"}}
    with pytest.raises(UserError, match="cycle"):
        _waves([x, y])


@pytest.fixture
def fake_work(monkeypatch):
    """A job kind `note` that writes its spec's text, or raises when the text is "boom"."""
    calls = []

    def note(spec, root, out):
        calls.append(spec["text"])
        if spec["text"] == "boom":
            raise RuntimeError("it broke")
        out.mkdir(parents=True, exist_ok=True)
        (out / "text").write_text(spec["text"])
        return {"length": len(spec["text"])}

    monkeypatch.setitem(work.KINDS, "note", note)
    return calls


def test_failures_block_their_dependents_only_and_a_rerun_retries_only_them(tmp_path, fake_work):
    ok = Job("note", "ok", {"text": "fine"})
    bad = Job("note", "bad", {"text": "boom"})
    after_bad = Job("note", "after bad", {"text": "later", "model": {"job": bad.key}})
    after_ok = Job("note", "after ok", {"text": "also", "model": {"job": ok.key}})
    states = InProcess(log=lambda line: None).run([after_bad, after_ok, bad, ok], tmp_path)
    assert {job.name: states[job.key]["state"] for job in (ok, bad, after_bad, after_ok)} == {
        "ok": "done",
        "bad": "failed",
        "after bad": "failed",
        "after ok": "done",
    }
    assert "it broke" in states[bad.key]["reason"]
    assert states[after_bad.key]["reason"] == "needs bad, which failed"
    assert states[ok.key]["result"] == {"length": 4}
    assert (ok.output(tmp_path) / "text").read_text() == "fine"
    assert fake_work == ["boom", "fine", "also"]  # in the order given, within dependency order

    fake_work.clear()
    InProcess(log=lambda line: None).run([after_bad, after_ok, bad, ok], tmp_path)
    assert fake_work == ["boom"]  # done jobs are not redone; the failed one is retried


def test_a_running_job_whose_process_is_gone_is_interrupted(tmp_path):
    from hostile.helpers import dead_pid

    from clearbench.jobs.job import mark

    job = Job("note", "n", {"text": "x"})
    job.record(tmp_path)
    mark(tmp_path, job.key, "running")
    assert read_state(tmp_path, job.key)["state"] == "running"  # this very process
    state_file = job.folder(tmp_path) / "state.json"
    state_file.write_text(json.dumps(json.loads(state_file.read_text()) | {"pid": dead_pid()}))
    assert read_state(tmp_path, job.key)["state"] == "interrupted"


def test_jobs_command_lists_states_and_what_a_rerun_redoes(tmp_path, fake_work, capsys):
    (tmp_path / "config.yaml").write_text("{}")
    InProcess(log=lambda line: None).run(
        [Job("note", "good", {"text": "fine"}), Job("note", "broken", {"text": "boom"})], tmp_path
    )
    assert main(["jobs", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["done", "note", "good"]
    assert lines[1].split()[:3] == ["failed", "note", "broken"] and "it broke" in lines[1]
    assert lines[-1] == "2 jobs: 1 done, 1 failed; a re-run redoes 1"
    assert [job["name"] for job in job_states(tmp_path)] == ["good", "broken"]
    assert main(["jobs", str(tmp_path / "nowhere")]) == 2


def test_an_unreachable_ray_address_is_refused_at_once(tmp_path, capsys):
    import time

    pytest.importorskip("ray")
    started = time.perf_counter()
    code = main(
        ["run", "--out", str(tmp_path / "run"), "--ray-address", "127.0.0.1:9", "--set", "data.persons=4"]
    )
    assert code == 2 and time.perf_counter() - started < 30
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    assert main(["run", "--out", str(tmp_path / "run2"), "--ray-address", "nowhere"]) == 2
    assert "is not HOST:PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    "workers, job_cpus, cores, cpus, at_once",
    [
        (2, 1, 2, 2, None),  # fits: every worker busy
        (4, 1, 16, 4, None),
        (2, 2, 2, 2, 1),  # the default 2 threads on 2 cores: one job at a time, not four threads
        (3, 2, 4, 4, 2),
        (2, 4, 2, 4, 1),  # a job larger than the machine still gets room to run
        (4, 1, 2, 2, 2),
    ],
)
def test_a_local_runtime_never_gets_more_cpus_than_the_machine_has(workers, job_cpus, cores, cpus, at_once):
    given, warning = local_cpus(workers, job_cpus, cores)
    assert given == cpus
    if at_once is None:
        assert warning is None
    else:
        assert f"has {cores}: {at_once} at a time" in warning
        assert ("jobs.threads=" in warning) == (workers <= cores)


def test_a_job_computes_with_the_threads_its_spec_names_and_records_them(tmp_path, monkeypatch):
    import torch

    seen = []
    monkeypatch.setitem(work.KINDS, "count", lambda spec, root, out: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    three = Job("count", "three", {"threads": 3})
    assert three.key != Job("count", "three", {"threads": 2}).key  # another count, another job
    states = InProcess(log=lambda line: None).run([three], tmp_path)
    assert seen == [3] and torch.get_num_threads() == before
    assert states[three.key]["threads"] == 3 and states[three.key]["wall_s"] >= 0
    assert read_state(tmp_path, three.key)["threads"] == 3


def test_the_thread_setting_defaults_to_two_whatever_the_machine(monkeypatch):
    from clearbench.run.config import load_config

    monkeypatch.delenv("CLEARBENCH_THREADS", raising=False)
    assert load_config(None, []).jobs.threads == 2
    monkeypatch.setenv("CLEARBENCH_THREADS", "1")
    assert load_config(None, []).jobs.threads == 1
    assert load_config(None, ["jobs.threads=4"]).jobs.threads == 4
    with pytest.raises(UserError, match="'jobs.threads' must be between 1 and 1024, got 0"):
        load_config(None, ["jobs.threads=0"])
    monkeypatch.setenv("CLEARBENCH_THREADS", "many")
    with pytest.raises(UserError, match="CLEARBENCH_THREADS must be between 1 and 1024, got 'many'"):
        load_config(None, [])


def test_each_job_says_when_it_starts_and_ends_and_whether_it_ran(tmp_path, fake_work):
    import re

    lines = []
    ok = Job("note", "ok", {"text": "fine", "seed": 0, "threads": 1})
    bad = Job("note", "bad", {"text": "boom"})
    after = Job("note", "after bad", {"text": "x", "model": {"job": bad.key}})
    InProcess(log=lines.append).run([ok, bad, after], tmp_path)
    assert lines[0] == "[job] note ok [seed 0]: started here (1 thread)"
    assert re.fullmatch(r"\[job\] note ok \[seed 0\]: ran here in \d+\.\ds", lines[1])
    assert lines[2] == "[job] note bad: started here"
    assert re.fullmatch(r"\[job\] note bad: failed here in \d+\.\ds: RuntimeError: it broke", lines[3])
    assert lines[4:] == ["[job] note after bad: not run (needs bad, which failed)"]

    lines.clear()
    InProcess(log=lines.append).run([ok], tmp_path)
    assert lines == ["[job] note ok [seed 0]: cached (done earlier)"]


def test_progress_bars_name_the_model_of_the_job():
    from clearbench.train import tracking

    assert tracking.named("forget_captions") == "forget_captions"
    with tracking.stage("eval target"):
        assert tracking.named("forget_captions") == "eval target: forget_captions"
