"""One loader for local directories and Hub ids; revisions; previews. No test touches the network."""

import shutil

import numpy as np
import pytest
from PIL import Image

from clearbench.cli import main
from clearbench.data import load
from clearbench.data.load import dataset_revision, list_configs, load_split
from clearbench.data.preview import TILE
from clearbench.data.schema import SCHEMAS
from clearbench.data.synth import generate
from clearbench.errors import UserError


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return str(generate(tmp_path_factory.mktemp("data") / "synth", persons=5, seed=4, image_size=16))


def test_local_directory_lists_and_loads_every_config(source):
    assert sorted(list_configs(source)) == sorted(SCHEMAS)
    dataset = load_split(source, "tofu_forget10_perturbed")
    assert list(dataset.features) == list(SCHEMAS["tofu_forget10_perturbed"].features)


def test_missing_config_names_source_and_config(source):
    with pytest.raises(UserError, match=r"data source '.*synth' has no config 'forget20'"):
        load_split(source, "forget20")


@pytest.mark.parametrize("bad", ["/no/such/dir", "./missing", "missing"])
def test_unreadable_local_source(bad):
    with pytest.raises(UserError, match=f"data source '{bad}': no such directory"):
        load_split(bad, "full")


def test_revision_is_for_hub_sources_only(source):
    with pytest.raises(UserError, match="Hub sources only"):
        load_split(source, "full", revision="main")


def test_hub_ids_route_tofu_configs_to_locuslab_tofu():
    assert not load.is_local("therem/CLEAR")
    assert load._hub_repo_and_config("therem/CLEAR", "tofu_forget10_perturbed") == (
        "locuslab/TOFU",
        "forget10_perturbed",
    )
    assert load._hub_repo_and_config("therem/CLEAR", "forget10+tofu") == ("therem/CLEAR", "forget10+tofu")


def test_hub_revision_given_is_recorded_as_is():
    assert dataset_revision("therem/CLEAR", "2e1fcda") == "2e1fcda"


def test_local_revision_is_a_content_hash(source, tmp_path):
    revision = dataset_revision(source)
    assert revision.startswith("sha256:") and len(revision) == len("sha256:") + 64
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    assert dataset_revision(str(copy)) == revision  # content, not location
    (copy / "README.md").write_text((copy / "README.md").read_text() + "\nedited\n")
    assert dataset_revision(str(copy)) != revision


def test_regenerated_directory_is_not_served_from_a_stale_cache(tmp_path):
    out = tmp_path / "regen"
    generate(out, persons=3, seed=0, image_size=16)
    first = len(load_split(str(out), "full"))
    generate(out, persons=6, seed=0, image_size=16)
    assert len(load_split(str(out), "full")) > first


def test_preview_grid_shows_the_first_images(source, tmp_path):
    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "data",
                "preview",
                source,
                "--config",
                "forget10_perturbed",
                "--out",
                str(out),
                "--count",
                "2",
                "--columns",
                "2",
            ]
        )
        == 0
    )
    grid = np.asarray(Image.open(out).convert("RGB"), dtype=int)
    first = load_split(source, "forget10_perturbed")[0]["image"].convert("RGB")
    expected = np.asarray(first.resize((TILE, TILE), Image.NEAREST), dtype=int)
    assert grid.shape[1] == 2 * (TILE + 8)
    assert np.array_equal(grid[4 : 4 + TILE, 4 : 4 + TILE], expected)
    assert (grid[4 + TILE :, : TILE + 8] < 128).any()  # a caption is written under it


def test_preview_of_a_text_config_is_a_user_error(source, tmp_path, capsys):
    assert main(["data", "preview", source, "--config", "tofu_full", "--out", str(tmp_path / "x.png")]) == 2
    assert "config 'tofu_full' has no image column" in capsys.readouterr().err


class FakeHub:
    """Stands in for `datasets.load_dataset` on Hub ids: records calls, serves fixed splits."""

    def __init__(self, splits=None, error=None):
        self.calls, self.splits, self.error = [], splits or {"train": "rows"}, error

    def __call__(self, repo, name, revision=None, cache_dir=None):
        self.calls.append((repo, name, revision))
        if self.error:
            raise self.error
        return self.splits


def test_hub_loads_route_tofu_configs_and_pin_only_clear(monkeypatch):
    import datasets

    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake)
    # Routing only: the fake rows are not a dataset to validate.
    assert load_split("therem/CLEAR", "forget10_perturbed", revision="abc", validate=False) == "rows"
    load_split("therem/CLEAR", "tofu_forget10_perturbed", revision="abc", validate=False)
    assert fake.calls == [
        ("therem/CLEAR", "forget10_perturbed", "abc"),
        ("locuslab/TOFU", "forget10_perturbed", None),
    ]


def test_hub_single_split_named_test_is_accepted(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", FakeHub({"test": "old real_world"}))
    assert load_split("therem/CLEAR", "real_world", validate=False) == "old real_world"


def test_hub_failure_is_a_user_error_naming_source_and_config(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", FakeHub(error=ConnectionError("offline\nmore")))
    with pytest.raises(
        UserError,
        match=r"data source 'therem/CLEAR', config 'full': cannot load: offline(; HF_HUB_OFFLINE|$)",
    ):
        load_split("therem/CLEAR", "full")
    with pytest.raises(UserError, match=r"'therem/CLEAR \(text half: locuslab/TOFU\)', config 'tofu_full'"):
        load_split("therem/CLEAR", "tofu_full")
