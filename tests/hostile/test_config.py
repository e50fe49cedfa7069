"""Hostile configs: every bad value, YAML file or `extends:` chain is refused in one line naming the
key or file, before `clearbench run` writes anything (so the corrected command is not refused for
that --out)."""

from __future__ import annotations

import pytest

from clearbench.run.config import load_config
from hostile.helpers import read_json

BAD_VALUES = [
    ("seeds.train=[abc]", "config key 'seeds.train'[0] must be an integer, got 'abc'"),
    ("finetune.learning_rate=.nan", "'finetune.learning_rate' must be a positive number"),
    ("unlearn.learning_rate=-1e-5", "'unlearn.learning_rate' must be a positive number"),
    ("unlearn.lora.r=-3", "'unlearn.lora.r' must not be negative"),
    ("unlearn.methods=ga", "'unlearn.methods' must be a list, got 'ga'"),
    ("pretrain.epochs=0", "'pretrain.epochs' must be a positive number"),
    ("finetune.epochs=.inf", "'finetune.epochs' must be a positive number"),
    ("eval.batch_size=0", "config key 'eval.batch_size' must be at least 1, got 0"),
    ("eval.max_rows=0", "config key 'eval.max_rows' must be at least 1, got 0"),
    ("eval.max_new_tokens=-5", "config key 'eval.max_new_tokens' must be at least 1"),
    ("eval.tasks=[forget_captions, nope]", "config key 'eval.tasks': unknown task(s) nope"),
    ("eval.tasks=real_faces", "config key 'eval.tasks' must be a list"),
    ("eval.compat=paper", "config key 'eval.compat': unknown mode 'paper'"),
    ("data.persons=1", "config key 'data.persons': need at least 2 people"),
    ("data.persons=50000", "config key 'data.persons': at most 2000 people"),
    ("data.image_size=8", "config key 'data.image_size': must be between 16 and 1024"),
    ("data.source=/nonexistent/clear", "data source '/nonexistent/clear': no such directory"),
    ("model.name=/nonexistent/model", "unknown model '/nonexistent/model'"),
    ("report.retain_fail_threshold=high", "'report.retain_fail_threshold' must be a number"),
    ("unlearn.hparams={ga: {betta: 1}}", "betta"),
    ("unlearn.hparams={dpo2: {beta: 1}}", "unlearn.hparams.dpo2: 'dpo2' is not in unlearn.methods"),
    ("data.topics=[award, nope]", "config key 'data.topics': unknown nope; choose from birth_year"),
    ("unlearn.modalities=[sound]", "unknown modality 'sound'"),
    ("unlearn.methods=[]", "unlearn.methods is empty"),
    ("forget_split=forget50", "forget_split 'forget50'"),
    ("seed=[", "override 'seed=[': invalid YAML at line 1, column 2"),
    ("seed=*anchor", "override 'seed=*anchor': invalid YAML at line 1, column 1: aliases (*anchor)"),
    ("colour=blue", "unknown config key 'colour'"),
    ("finetune.lora=8", "'finetune.lora' must be a section"),
    ("no-equals-sign", "not of the form key=value"),
]


@pytest.mark.parametrize("override, message", BAD_VALUES, ids=[case[0] for case in BAD_VALUES])
def test_bad_value_is_refused_before_anything_is_written(override, message, refused, tmp_path, fake_stages):
    out = tmp_path / "run"
    refused(["run", "--out", out, "--set", override], message)
    assert not out.exists() and fake_stages.calls == []


def test_a_revision_for_a_local_source_is_refused_before_writing(pristine, refused, tmp_path):
    out = tmp_path / "run"
    refused(
        ["run", "--out", out, "--set", f"data.source={pristine}", "--set", "data.revision=main"],
        "a revision applies to Hub sources only",
    )
    assert not out.exists()


def test_the_corrected_command_runs_in_the_same_out(refused, cli, run_args, fake_stages, tmp_path):
    out = tmp_path / "run"
    refused(run_args(out, "eval.batch_size=0"), "'eval.batch_size'")
    outcome = cli(*run_args(out, "eval.batch_size=4"))
    assert outcome.code == 0, outcome.err[-2000:]
    assert (out / "report" / "report.html").is_file()
    assert [run["name"] for run in read_json(out / "runs.json")] == ["base", "target", "gold", "ga", "npo"]


# --- YAML files ----------------------------------------------------------------------------------


def _write(path, text):
    path.write_text(text)
    return path


def test_a_file_that_extends_itself(tmp_path, refused):
    config = _write(tmp_path / "loop.yaml", "extends: loop.yaml\nseed: 1\n")
    refused(["run", config, "--out", tmp_path / "run"], "extend each other in a cycle", "loop.yaml")
    assert not (tmp_path / "run").exists()


def test_two_files_that_extend_each_other(tmp_path, refused):
    _write(tmp_path / "a.yaml", "extends: b.yaml\n")
    _write(tmp_path / "b.yaml", f"extends: {tmp_path / 'a.yaml'}\n")
    line = refused(["run", tmp_path / "a.yaml", "--out", tmp_path / "run"], "cycle")
    assert line.count("a.yaml") == 2 and "b.yaml" in line


def test_a_file_named_like_a_preset_that_extends_itself(tmp_path, refused, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "tiny.yaml", "extends: tiny.yaml\n")
    refused(["run", "tiny.yaml", "--out", tmp_path / "run"], "cycle")


def test_extends_is_relative_to_the_including_file(tmp_path):
    (tmp_path / "presets").mkdir()
    _write(tmp_path / "presets" / "base.yaml", "extends: tiny\nseeds: {train: [7]}\n")
    child = _write(tmp_path / "presets" / "child.yaml", "extends: base.yaml\nforget_split: forget05\n")
    config = load_config(str(child))
    assert (config.seeds.train, config.forget_split) == ([7], "forget05")


@pytest.mark.parametrize(
    "text, message",
    [
        ("extends: missing.yaml\n", "config file missing.yaml does not exist (extended by"),
        ("extends: 5\n", "'extends' must be a preset name or a YAML file, got 5"),
        ("extends: [tiny]\n", "'extends' must be a preset name or a YAML file"),
        ("extends: no-such-preset\n", "unknown preset 'no-such-preset'"),
        ("seed: 1\n  bad indent: 2\n", "invalid YAML at line 2"),
        ("- a\n- list\n", "expected a mapping at the top level, got list"),
        ("a: &x [1]\nb: *x\n", "aliases (*x) are not allowed"),
        ("finetune: 3\n", "config key 'finetune' must be a section"),
    ],
)
def test_bad_yaml_file(tmp_path, refused, text, message):
    config = _write(tmp_path / "bad.yaml", text)
    line = refused(["run", config, "--out", tmp_path / "run"], message)
    assert "bad.yaml" in line or "config key" in line
    assert not (tmp_path / "run").exists()


def test_a_billion_laughs_file_is_refused_quickly(tmp_path, refused):
    lines = ["a0: [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    lines[0] = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"
    config = _write(tmp_path / "laughs.yaml", "\n".join(lines) + "\nseed: *a29\n")
    refused(["run", config, "--out", tmp_path / "run"], "aliases (*a0) are not allowed")


def test_a_binary_file(tmp_path, refused):
    config = tmp_path / "blob.yaml"
    config.write_bytes(b"\xff\xfe\x00\x81 binary")
    refused(["run", config, "--out", tmp_path / "run"], "blob.yaml: cannot read it (not UTF-8 text)")


def test_a_directory_named_like_a_config(tmp_path, refused):
    (tmp_path / "dir.yaml").mkdir()
    refused(["run", tmp_path / "dir.yaml", "--out", tmp_path / "run"], "dir.yaml is not a file")


def test_a_missing_config_file(tmp_path, refused):
    refused(["run", tmp_path / "nope.yaml", "--out", tmp_path / "run"], "nope.yaml does not exist")
