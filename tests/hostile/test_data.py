"""Hostile data: bad rows are refused by `data check` and by every command that loads them, before
any model is loaded; dataset cards may not lead outside their folder; `data synth` never deletes a
user's files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from datasets import Dataset
from PIL import Image

from clearbench.data.check import MAX_IMAGE_PIXELS, MAX_TEXT_CHARS, check_split
from clearbench.data.synth.writer import parquet_path
from hostile.helpers import files_under, read_table, set_value, write_table


def png(width: int = 16, height: int = 16) -> bytes:
    """A PNG of noise (so that its pixel data is long enough to cut in half)."""
    buffer = io.BytesIO()
    pixels = bytes((index * 7919) % 251 for index in range(width * height * 3))
    Image.frombytes("RGB", (width, height), pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels in a few bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


LONG = "x" * 100_000

# (config, column, row, bad value, what the one-line message says)
BAD_ROWS = {
    "zero-byte image": ("full", "image", 3, {"bytes": b"", "path": None}, "image is empty (0 bytes)"),
    "corrupt image": ("full", "image", 3, {"bytes": b"not a png", "path": None}, "cannot decode image"),
    "truncated image": (
        "full",
        "image",
        2,
        {"bytes": png()[: len(png()) // 2], "path": None},
        "cannot decode image",
    ),
    "image over the pixel limit": (
        "full",
        "image",
        1,
        {"bytes": png_header(5000, 5000), "path": None},
        "image is 5000x5000 (25,000,000 pixels), more than the limit of 16,777,216 pixels",
    ),
    "decompression bomb": (
        "forget10",
        "image",
        0,
        {"bytes": png_header(60000, 60000), "path": None},
        "image is too large",
    ),
    "image that names a file elsewhere": (
        "full",
        "image",
        0,
        {"bytes": None, "path": "/etc/passwd"},
        "image is not stored in the data file; it names the file '/etc/passwd'",
    ),
    "missing image": ("full", "image", 4, None, "value is empty"),
    "empty caption": ("full", "caption", 3, "", "value is empty"),
    "blank caption": ("retain90", "caption", 0, "  \t ", "value is empty"),
    "100k-character caption": ("full", "caption", 5, LONG, "text has 100,000 characters"),
    "100k-character perturbed item": (
        "forget10_perturbed",
        "perturbed_captions",
        0,
        ["short", LONG, "a", "b", "c"],
        "a list item: text has 100,000 characters",
    ),
    "empty answer of a text question": ("tofu_full", "answer", 0, "", "value is empty"),
    "100k-character question": ("tofu_forget10", "question", 0, LONG, "text has 100,000 characters"),
    "empty options list": ("real_faces", "options", 0, [], "list is empty"),
    "empty caption of an image row in +tofu": ("full+tofu", "caption", 0, "", "value is empty"),
}


@pytest.fixture(params=sorted(BAD_ROWS), ids=lambda name: name.replace(" ", "-"))
def bad_row(request, source):
    config, column, row, value, message = BAD_ROWS[request.param]
    set_value(source, config, column, row, value)
    return source, config, column, row, message


def test_the_checks_name_config_row_and_column(bad_row):
    """The row checks `data check` runs on every config, on the broken one."""
    source, config, column, row, message = bad_row
    dataset = Dataset.from_parquet(str(source / parquet_path(config)))
    _, problems = check_split(config, dataset)
    assert len(problems) == 1, problems
    assert str(problems[0]).startswith(f"config '{config}', row {row}, column '{column}': {message}")


@pytest.mark.parametrize(
    "case", ["zero-byte image", "decompression bomb", "empty caption", "100k-character perturbed item"]
)
def test_data_check_command_refuses(case, source, cli):
    config, column, row, value, message = BAD_ROWS[case]
    set_value(source, config, column, row, value)
    outcome = cli("data", "check", source)
    assert outcome.code == 2
    first, last = outcome.err.strip().splitlines()
    assert first.startswith(f"config '{config}', row {row}, column '{column}': {message}")
    assert last == f"1 problem in {source}"


def test_loading_the_bad_config_is_refused_in_one_line(bad_row, refused, tmp_path):
    """`data preview` loads through the same loader as finetune, unlearn and eval."""
    source, config, column, row, message = bad_row
    out = tmp_path / "grid.png"
    refused(
        ["data", "preview", source, "--config", config, "--out", out],
        f"data source '{source}', config '{config}', row {row}, column '{column}': {message}",
    )
    assert not out.exists()


def test_limits_are_the_documented_ones():
    assert (MAX_IMAGE_PIXELS, MAX_TEXT_CHARS) == (4096 * 4096, 4096)


def test_text_at_the_limit_is_accepted(source, cli, tmp_path):
    set_value(source, "full", "caption", 0, "y" * MAX_TEXT_CHARS)
    outcome = cli("data", "preview", source, "--config", "full", "--out", tmp_path / "grid.png", "--count", 2)
    assert outcome.code == 0 and (tmp_path / "grid.png").is_file()


def test_an_empty_data_file_is_refused(source, refused, tmp_path):
    table = read_table(source, "forget10")
    write_table(source, "forget10", {column: [] for column in table})
    refused(
        ["data", "preview", source, "--config", "forget10", "--out", tmp_path / "grid.png"],
        f"data source '{source}', config 'forget10': cannot read its data files",
    )


def test_a_config_without_rows_is_a_problem():
    from clearbench.data.schema import SCHEMAS

    empty = Dataset.from_dict(
        {column: [] for column in SCHEMAS["forget10"].features}, SCHEMAS["forget10"].features
    )
    _, problems = check_split("forget10", empty)
    assert [str(problem) for problem in problems] == ["config 'forget10': config has no rows"]


@pytest.mark.parametrize("mode, fmt", [("CMYK", "JPEG"), ("I;16", "PNG"), ("P", "PNG"), ("LA", "PNG")])
def test_unusual_image_modes_are_accepted(source, cli, tmp_path, mode, fmt):
    """Documented success: any image PIL decodes and converts to RGB is fine."""
    buffer = io.BytesIO()
    Image.new(mode, (16, 16)).save(buffer, format=fmt)
    set_value(source, "full", "image", 0, {"bytes": buffer.getvalue(), "path": None})
    outcome = cli("data", "preview", source, "--config", "full", "--out", tmp_path / "grid.png", "--count", 2)
    assert outcome.code == 0 and (tmp_path / "grid.png").is_file()


def test_a_data_file_that_is_not_parquet_is_refused(source, refused, tmp_path):
    (source / parquet_path("full")).write_bytes(b"PAR1 but not really")
    refused(
        ["data", "preview", source, "--config", "full", "--out", tmp_path / "grid.png"],
        f"data source '{source}', config 'full'",
    )


# --- the commands that train or evaluate refuse bad rows before loading a model --------------------


def test_finetune_refuses_bad_rows_before_loading_a_model(source, refused, tmp_path):
    set_value(source, "full", "caption", 2, LONG)
    out = tmp_path / "model"
    refused(
        ["finetune", "--model", "tiny-llava", "--data", source, "--split", "full", "--out", out],
        "config 'full', row 2, column 'caption': text has 100,000 characters",
    )
    assert not out.exists()


def test_unlearn_refuses_bad_rows_before_loading_a_model(source, refused, tmp_path):
    set_value(source, "forget10+tofu", "image", 1, {"bytes": b"", "path": None})
    out = tmp_path / "unlearned"
    argv = ["unlearn", "--model", tmp_path / "no-model-needed", "--data", source, "--method", "ga"]
    refused(
        argv + ["--forget", "forget10+tofu", "--retain", "retain90+tofu", "--out", out],
        "config 'forget10+tofu', row 1, column 'image': image is empty (0 bytes)",
    )
    assert not out.exists()


def test_eval_refuses_bad_rows_before_loading_a_model_or_writing(source, refused, tmp_path):
    set_value(source, "real_world", "image", 0, {"bytes": png_header(60000, 60000), "path": None})
    checkpoint = tmp_path / "checkpoint"  # a config only: loading its weights would fail
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text('{"model_type": "llava"}')
    out = tmp_path / "eval"
    refused(
        ["eval", "--model", checkpoint, "--data", source, "--out", out, "--tasks", "real_world"],
        "config 'real_world', row 0, column 'image': image is too large",
    )
    assert not out.exists()


def test_run_refuses_bad_rows_in_its_data_stage(source, refused, tmp_path, fake_stages):
    set_value(source, "tofu_world_facts_perturbed", "question", 0, "")
    out = tmp_path / "run"
    refused(
        ["run", "--out", out, "--set", f"data.source={source}"],
        "config 'tofu_world_facts_perturbed', row 0, column 'question': value is empty",
    )
    assert fake_stages.calls == [] and not (out / "models").exists()


# --- dataset cards -------------------------------------------------------------------------------


def _point_card(source: Path, config: str, path: str) -> None:
    card = source / "README.md"
    card.write_text(card.read_text().replace(f"path: {parquet_path(config)}", f"path: {path}", 1))


@pytest.mark.parametrize(
    "path, why",
    [
        ("../elsewhere/train.parquet", "leads out of the folder"),
        ("data/../../elsewhere/train.parquet", "leads out of the folder"),
        ("/tmp/elsewhere/train.parquet", "is an absolute path"),
        ("https://example.com/train.parquet", "is a URL"),
        ("hf://datasets/someone/else/train.parquet", "is a URL"),
        ("../*/data/full/*.parquet", "leads out of the folder"),
    ],
)
def test_a_card_may_not_lead_outside_its_folder(source, refused, path, why):
    _point_card(source, "full", path)
    line = refused(["data", "check", source], "README.md, config 'full'", f"'{path}' {why}")
    assert "only name files inside its own folder" in line


def test_a_card_may_not_lead_outside_through_a_symbolic_link(source, refused, tmp_path):
    outside = tmp_path / "elsewhere.parquet"
    parquet = source / parquet_path("full")
    outside.write_bytes(parquet.read_bytes())
    parquet.unlink()
    parquet.symlink_to(outside)
    refused(["data", "check", source], "config 'full'", "through the symbolic link data/full/train.parquet")


def test_a_card_with_an_invalid_yaml_header(source, refused):
    card = source / "README.md"
    card.write_text(card.read_text().replace("configs:", "configs: [unclosed", 1))
    refused(["data", "check", source], "README.md has an invalid YAML header")


# --- data synth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("planted", ["notes.txt", "data/full/my_extra.parquet", "data/mine/train.parquet"])
def test_synth_refuses_to_replace_a_folder_holding_a_users_files(source, refused, planted):
    user_file = source / planted
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text("keep me")
    before = files_under(source)
    refused(["data", "synth", source, "--persons", 4, "--image-size", 16], "did not write", planted)
    assert user_file.read_text() == "keep me" and files_under(source) == before


def test_synth_replaces_its_own_folder(source, cli):
    """Documented success: a folder holding only a previous synth is regenerated in place."""
    outcome = cli("data", "synth", source, "--persons", 5, "--image-size", 16)
    assert outcome.code == 0 and "5 persons" in outcome.out
    assert not [p for p in source.parent.iterdir() if p.name.endswith(".tmp")]


def test_synth_refuses_a_foreign_folder(tmp_path, refused):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("keep me")
    refused(["data", "synth", tmp_path / "home"], "not a synthetic CLEAR dataset")
    assert (tmp_path / "home" / "thesis.tex").read_text() == "keep me"


@pytest.mark.parametrize(
    "options, message",
    [
        (["--persons", "1"], "need at least 2 people"),
        (["--persons", "100000"], "at most 2000 people"),
        (["--image-size", "8"], "--image-size: must be between 16 and 1024"),
    ],
)
def test_synth_refuses_bad_options_before_writing(tmp_path, refused, options, message):
    refused(["data", "synth", tmp_path / "synth", *options], message)
    assert not (tmp_path / "synth").exists()
