"""Offline and local data: with HF_HUB_OFFLINE=1 (set for every test) and the Hub pair in a Hugging
Face cache laid out as huggingface_hub lays it (blobs, snapshots of links, refs), `therem/CLEAR` and its
TOFU half load from the cache and runs record the cached commit; a local copy of CLEAR reads its TOFU
half from `--tofu-source`; data that is not cached is one message before any training.

The cache is made from the synthetic source, split as the Hub splits it: CLEAR's own configs under
therem/CLEAR, the `tofu_X` configs as locuslab/TOFU's `X`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from tiny_families import build_tiny

from clearbench.cli import main
from clearbench.data import load
from clearbench.data.load import dataset_revision, list_configs, load_split
from clearbench.errors import UserError

CLEAR_COMMIT = "c1ea4" + "0" * 35
OLD_COMMIT = "01d00" + "0" * 35
TOFU_COMMIT = "70f40" + "0" * 35


def copy_configs(source: Path, out: Path, keep, rename=lambda name: name) -> Path:
    """A dataset folder holding the configs of `source` that `keep` accepts, renamed by `rename`."""
    text = (source / "README.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    configs = []
    for config in header["configs"]:
        if keep(config["config_name"]):
            for entry in config["data_files"]:
                (out / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source / entry["path"], out / entry["path"])
            configs.append({**config, "config_name": rename(config["config_name"])})
    (out / "README.md").write_text("---\n" + yaml.safe_dump({"configs": configs}, sort_keys=False) + "---\n")
    return out


def cache_repo(cache: Path, repo_id: str, folder: Path, commit: str, ref: str | None = "main") -> None:
    """`folder` as a cached snapshot of dataset `repo_id` at `commit`: content-named blobs, a snapshot
    of relative links to them, and `refs/<ref>` naming the commit."""
    repo = cache / ("datasets--" + repo_id.replace("/", "--"))
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref is not None:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(synthetic source, local CLEAR copy, local TOFU copy, Hub cache holding both)."""
    from clearbench.data.synth import generate

    root = tmp_path_factory.mktemp("offline")
    source = generate(root / "synth", persons=5, seed=0, image_size=16)
    clear = copy_configs(source, root / "CLEAR", lambda name: not name.startswith("tofu_"))
    tofu = copy_configs(source, root / "TOFU", lambda name: name.startswith("tofu_"), lambda n: n[5:])
    cache = root / "hub"
    cache_repo(cache, "therem/CLEAR", clear, CLEAR_COMMIT)
    older = copy_configs(source, root / "CLEAR-old", lambda name: name in ("forget10", "retain90"))
    cache_repo(cache, "therem/CLEAR", older, OLD_COMMIT, ref=None)
    readme = (cache / "datasets--therem--CLEAR" / "snapshots" / OLD_COMMIT / "README.md").resolve()
    os.utime(readme, (readme.stat().st_mtime + 3600,) * 2)  # the newest snapshot is not main's
    cache_repo(cache, "locuslab/TOFU", tofu, TOFU_COMMIT)
    return source, clear, tofu, cache


@pytest.fixture
def hub_cache(pair, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(pair[3]))
    return pair[3]


def rows(dataset) -> list[str]:
    return [json.dumps({k: v for k, v in row.items() if k != "image"}, sort_keys=True) for row in dataset]


def test_the_hub_pair_loads_from_the_cache_and_records_its_commit(pair, hub_cache):
    source = str(pair[0])
    assert load.hub_offline()
    for config in ("forget10", "full+tofu", "tofu_forget10", "tofu_retain_perturbed"):
        assert rows(load_split("therem/CLEAR", config)) == rows(load_split(source, config)), config
    assert load.locate("therem/CLEAR", "tofu_forget10").commit == TOFU_COMMIT
    assert dataset_revision("therem/CLEAR") == CLEAR_COMMIT  # refs/main, not the newer-written old one
    assert set(list_configs("therem/CLEAR")) == set(list_configs(source))
    load.check_source_exists("therem/CLEAR")
    # a revision picks its snapshot: the old one holds forget10 only
    assert dataset_revision("therem/CLEAR", OLD_COMMIT[:7]) == OLD_COMMIT
    assert len(load_split("therem/CLEAR", "forget10", OLD_COMMIT[:7])) == len(load_split(source, "forget10"))
    assert load.locate("therem/CLEAR", "full", "main").commit == CLEAR_COMMIT


def test_an_offline_run_trains_from_the_cache(pair, hub_cache, tmp_path):
    texts = load_split(str(pair[0]), "tofu_full")
    model, tokenizer = build_tiny("causal_lm", list(texts["question"]) + list(texts["answer"]), seed=0)
    model.save_pretrained(tmp_path / "llm")
    tokenizer.save_pretrained(tmp_path / "llm")
    out = tmp_path / "target"
    args = ["finetune", "--model", str(tmp_path / "llm"), "--data", "therem/CLEAR", "--split", "tofu_full"]
    assert main([*args, "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--lora-r", "0"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["dataset_revision"] == CLEAR_COMMIT and run["rows"] == len(texts)


def test_data_not_in_the_cache_is_one_message_before_training(pair, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=r"'therem/CLEAR' is not in the Hugging Face cache \(.*empty\)"):
        load.check_source_exists("therem/CLEAR")
    with pytest.raises(UserError, match="hf download therem/CLEAR --repo-type dataset"):
        dataset_revision("therem/CLEAR")
    out = tmp_path / "out"
    args = [
        "finetune",
        "--model",
        "tiny-llava",
        "--data",
        "therem/CLEAR",
        "--split",
        "full",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "data source 'therem/CLEAR', config 'full': cannot load" in error
    assert f"the Hugging Face cache ({tmp_path / 'empty'}) has no snapshot of therem/CLEAR" in error
    assert not out.exists()


def test_a_local_copy_of_clear_reads_tofu_from_the_tofu_source(pair):
    source, clear, tofu, _ = (str(part) for part in pair)
    with pytest.raises(UserError, match="has no config 'tofu_forget10'"):
        load_split(clear, "tofu_forget10")
    with load.tofu_source(tofu):
        assert rows(load_split(clear, "tofu_forget10")) == rows(load_split(source, "tofu_forget10"))
        assert rows(load_split(clear, "forget10")) == rows(load_split(source, "forget10"))
        assert set(list_configs(clear)) == set(list_configs(source))
        revision = dataset_revision(clear)
    assert revision == f"{dataset_revision(clear)}+tofu:{dataset_revision(tofu)}"
    assert load.TOFU_SOURCE_ENV not in os.environ  # restored
    with pytest.raises(UserError, match="no such directory"), load.tofu_source(str(Path(tofu) / "missing")):
        pass


def test_the_tofu_source_flag_trains_on_a_local_pair(pair, tmp_path):
    source, clear, tofu, _ = (str(part) for part in pair)
    texts = load_split(source, "tofu_full")
    model, tokenizer = build_tiny("causal_lm", list(texts["question"]) + list(texts["answer"]), seed=0)
    model.save_pretrained(tmp_path / "llm")
    tokenizer.save_pretrained(tmp_path / "llm")
    out = tmp_path / "ga"
    args = ["unlearn", "--model", str(tmp_path / "llm"), "--data", clear, "--forget", "tofu_forget10"]
    args += ["--retain", "tofu_retain90", "--method", "ga", "--tofu-source", tofu, "--out", str(out)]
    assert main([*args, "--max-steps", "2", "--batch-size", "2", "--lora-r", "0"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["dataset_revision"].endswith("+tofu:" + dataset_revision(tofu))
    assert run["forget_rows"] == len(load_split(source, "tofu_forget10"))
