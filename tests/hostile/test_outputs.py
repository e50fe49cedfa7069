"""Hostile outputs: --out that cannot be a directory, read-only places and full disks stop the command
with one line and exit 2; completed stages are kept, no "completed" report appears, and temporaries
of a killed write are cleaned by the next run.

Full disks and read-only file systems are simulated by making the write functions raise the errors
the real ones raise (OSError with ENOSPC / EROFS, safetensors' SafetensorError, torch's writer error).
"""

from __future__ import annotations

import errno
import os
import tempfile

import pytest

from clearbench import atomic
from hostile.helpers import dead_pid, done_jobs, files_under, read_json

DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


def _safetensors_disk_full():
    from safetensors import SafetensorError

    return SafetensorError(
        'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
    )


def _torch_writer_failed():
    return RuntimeError(
        "[enforce fail at inline_container.cc:595] . PytorchStreamWriter failed writing file data/0: "
        "file write failed"
    )


def _fail_writes(monkeypatch, error: OSError, when=lambda path: True):
    """Make atomic writes of the paths `when` accepts fail with `error` (as a full disk would)."""
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        fd, path = real(*args, **kwargs)
        if when(path):
            os.close(fd)
            os.unlink(path)
            raise error
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


# --- --out that cannot be a run directory ---------------------------------------------------------


def test_run_out_is_a_file(tmp_path, refused, run_args, fake_stages):
    out = tmp_path / "results.txt"
    out.write_text("mine")
    refused(run_args(out), f"--out {out} exists and is not a directory")
    assert out.read_text() == "mine" and fake_stages.calls == []


def test_run_out_is_a_broken_symbolic_link(tmp_path, refused, run_args, fake_stages):
    out = tmp_path / "link"
    out.symlink_to(tmp_path / "gone")
    refused(run_args(out), f"--out {out} is a broken symbolic link")
    assert out.is_symlink() and not (tmp_path / "gone").exists()


def test_run_out_inside_a_file(tmp_path, refused, run_args, fake_stages):
    (tmp_path / "file").write_text("mine")
    refused(run_args(tmp_path / "file" / "run"), f"{tmp_path / 'file'} exists and is not a directory")


def test_run_out_inside_a_broken_symbolic_link(tmp_path, refused, run_args, fake_stages):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    refused(run_args(tmp_path / "link" / "run"), "is a broken symbolic link")
    assert not (tmp_path / "gone").exists()


def test_run_out_on_a_read_only_file_system(tmp_path, refused, run_args, fake_stages, monkeypatch):
    _fail_writes(monkeypatch, OSError(errno.EROFS, "Read-only file system"))
    out = tmp_path / "run"
    line = refused(run_args(out), f"cannot write {out / 'config.yaml'}: read-only file system")
    assert f"make {out} writable" in line
    assert files_under(out) == [] and fake_stages.calls == []


def test_run_out_without_permission(tmp_path, refused, run_args, fake_stages, monkeypatch):
    _fail_writes(monkeypatch, PermissionError(errno.EACCES, "Permission denied"))
    refused(run_args(tmp_path / "run"), "config.yaml: permission denied")


# --- a full disk at each stage ----------------------------------------------------------------------


def _kept_and_no_report(out):
    assert (out / "config.yaml").is_file() and (out / "run.json").is_file()
    assert not (out / "report" / "report.html").exists() and not (out / "runs.json").exists()
    assert not [name for name in files_under(out) if name.endswith(".tmp")]


@pytest.mark.parametrize(
    "stage, error, completed",
    [
        ("unlearn:npo", DISK_FULL, ["target", "gold", "ga"]),
        ("unlearn:ga", "safetensors", ["base", "target", "gold"]),
        ("unlearn:ga", "torch", ["target"]),
        ("finetune:gold", "safetensors", ["base", "target"]),
        ("eval:ga", DISK_FULL, ["eval base", "eval target", "eval gold"]),
        ("eval:target", OSError(errno.EDQUOT, "Disk quota exceeded"), ["eval base"]),
    ],
    ids=["method-oserror", "method-safetensors", "method-torch", "finetune-safetensors", "eval", "quota"],
)
def test_a_full_disk_stops_the_run(stage, error, completed, tmp_path, refused, run_args, fake_stages):
    error = {"safetensors": _safetensors_disk_full(), "torch": _torch_writer_failed()}.get(error, error)
    fake_stages.fail[stage] = error
    out = tmp_path / "run"
    line = refused(run_args(out), "the run stopped, completed stages are kept")
    assert "free some space" in line or "quota" in line
    assert fake_stages.calls[-1] == stage  # nothing ran after the failure
    kind, name = stage.split(":")
    assert set(completed) <= done_jobs(out)
    assert (f"eval {name}" if kind == "eval" else name) not in done_jobs(out)
    _kept_and_no_report(out)


def test_a_full_disk_while_writing_metrics(tmp_path, refused, run_args, fake_stages, monkeypatch):
    _fail_writes(monkeypatch, DISK_FULL, when=lambda path: "metrics" in path and "ga.json" in path)
    out = tmp_path / "run"
    refused(run_args(out), f"cannot write {out / 'metrics' / 'ga.json'}: disk full", "free some space")
    assert (out / "metrics" / "target.json").is_file() and not (out / "metrics" / "ga.json").exists()
    _kept_and_no_report(out)


def test_a_full_disk_while_writing_the_report(tmp_path, refused, run_args, fake_stages, monkeypatch):
    _fail_writes(monkeypatch, DISK_FULL, when=lambda path: "leaderboard.md" in path)
    out = tmp_path / "run"
    refused(run_args(out), "leaderboard.md: disk full", "re-run the same command to resume")
    assert not (out / "report" / "report.html").exists()


def test_an_ordinary_method_failure_does_not_stop_the_run(tmp_path, cli, run_args, fake_stages):
    """A method that fails for its own reasons is reported as failed; the others run, the report is
    written, and the run exits 1 so that a script or CI sees the failure."""
    fake_stages.fail["unlearn:ga"] = RuntimeError("CUDA out of memory")
    out = tmp_path / "run"
    outcome = cli(*run_args(out))
    assert outcome.code == 1 and (out / "report" / "report.html").is_file()
    statuses = {run["name"]: run["status"] for run in read_json(out / "runs.json")}
    assert statuses["ga"] == "failed" and statuses["npo"] == "completed"


def test_after_the_disk_is_freed_the_same_command_resumes(tmp_path, cli, run_args, fake_stages):
    """Documented success: completed stages are skipped (here: not trained again), the rest runs."""
    fake_stages.fail["unlearn:npo"] = DISK_FULL
    out = tmp_path / "run"
    assert cli(*run_args(out)).code == 2
    del fake_stages.fail["unlearn:npo"]
    fake_stages.calls.clear()
    outcome = cli(*run_args(out))
    assert outcome.code == 0 and (out / "report" / "report.html").is_file()


def test_a_corrupt_config_in_out_is_refused(tmp_path, refused, run_args, fake_stages):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("seed: [unclosed\n")
    refused(run_args(out), f"{out / 'config.yaml'} cannot be read", "use another --out")
    assert fake_stages.calls == []


# --- temporaries of a killed write -----------------------------------------------------------------


def test_leftover_temporaries_are_cleaned_on_the_next_run(tmp_path, cli, run_args, fake_stages):
    out = tmp_path / "run"
    (out / "models").mkdir(parents=True)
    dead, alive = dead_pid(), os.getpid()
    leftovers = [
        out / f".config.yaml.{dead}.abcd1234.tmp",
        out / "models" / f".target.{dead}.x1y2z3w4.tmp",  # a killed directory write
        out / ".run.json.q1w2e3r4.tmp",  # from before temporaries carried a process id
    ]
    leftovers[0].write_text("half a config")
    leftovers[1].mkdir()
    (leftovers[1] / "model.safetensors").write_bytes(b"half")
    leftovers[2].write_text("{")
    live = out / f".notes.{alive}.abcd1234.tmp"
    live.write_text("being written right now")
    assert cli(*run_args(out)).code == 0
    assert not any(path.exists() for path in leftovers)
    assert live.exists()


def test_a_write_removes_the_leftovers_of_killed_writers_of_the_same_file(tmp_path):
    dead = dead_pid()
    leftover = tmp_path / f".log.json.{dead}.abcd1234.tmp"
    other_file = tmp_path / f".other.json.{dead}.abcd1234.tmp"
    live = tmp_path / f".log.json.{os.getpid()}.zzzz9999.tmp"
    for path in (leftover, other_file, live):
        path.write_text("x")
    atomic.write_json(tmp_path / "log.json", {"a": 1})
    assert not leftover.exists() and other_file.exists() and live.exists()
    assert read_json(tmp_path / "log.json") == {"a": 1}


# --- other commands' outputs ------------------------------------------------------------------------


def test_preview_out_is_a_directory(pristine, tmp_path, refused):
    (tmp_path / "grid.png").mkdir()
    refused(
        ["data", "preview", pristine, "--config", "full", "--out", tmp_path / "grid.png"],
        f"cannot write {tmp_path / 'grid.png'}: {tmp_path / 'grid.png'} is a directory",
    )
    assert files_under(tmp_path / "grid.png") == []


def test_preview_out_inside_a_file(pristine, tmp_path, refused):
    (tmp_path / "file").write_text("mine")
    refused(
        ["data", "preview", pristine, "--config", "full", "--out", tmp_path / "file" / "grid.png"],
        f"{tmp_path / 'file'} exists and is not a directory",
    )


def test_preview_on_a_full_disk(pristine, tmp_path, refused, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        raise DISK_FULL

    monkeypatch.setattr(os, "fsync", fsync)
    refused(
        ["data", "preview", pristine, "--config", "full", "--out", tmp_path / "grid.png"],
        f"cannot write {tmp_path / 'grid.png'}: disk full",
    )
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert files_under(tmp_path) == []


def test_synth_on_a_full_disk_leaves_nothing(tmp_path, refused, monkeypatch):
    import clearbench.data.synth.writer as writer

    def write_tables(directory, tables):
        (directory / "data").mkdir()
        (directory / "data" / "partial.parquet").write_bytes(b"PAR1")
        raise DISK_FULL

    monkeypatch.setattr(writer, "write_tables", write_tables)
    refused(["data", "synth", tmp_path / "synth", "--persons", 4, "--image-size", 16], "synth: disk full")
    assert files_under(tmp_path) == []


def test_synth_out_is_a_file(tmp_path, refused):
    (tmp_path / "synth").write_text("mine")
    refused(["data", "synth", tmp_path / "synth"], "exists and is not a directory")
    assert (tmp_path / "synth").read_text() == "mine"


def test_synth_out_is_a_broken_symbolic_link(tmp_path, refused):
    (tmp_path / "synth").symlink_to(tmp_path / "gone")
    refused(["data", "synth", tmp_path / "synth"], "is a broken symbolic link")


def test_eval_out_is_a_file(pristine, tmp_path, refused):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text('{"model_type": "llava"}')
    (tmp_path / "eval").write_text("mine")
    refused(
        ["eval", "--model", checkpoint, "--data", pristine, "--out", tmp_path / "eval"],
        "exists and is not a directory",
    )
    assert (tmp_path / "eval").read_text() == "mine"
