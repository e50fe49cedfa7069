"""`clearbench data check`: each kind of bad input gives one line naming config, row and column,
and exit code 2; a clean source gives `OK` and exit code 0."""

import shutil

import pytest
from datasets import Dataset, Features, Value

from clearbench.cli import main
from clearbench.data.audit import check_source
from clearbench.data.check import ROW_PROBLEMS_PER_COLUMN
from clearbench.data.load import dataset_revision
from clearbench.data.schema import SCHEMAS
from clearbench.data.synth import generate
from clearbench.data.synth.writer import parquet_path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("data") / "synth", persons=6, seed=2, image_size=16)


@pytest.fixture
def source(pristine, tmp_path):
    copy = tmp_path / "source"
    shutil.copytree(pristine, copy)
    return copy


def read(source, config):
    return Dataset.from_parquet(str(source / parquet_path(config))).data.to_pydict()


def write(source, config, table, features=None):
    """Rewrite one config's parquet file with `table` (default: the config's own features)."""
    features = features or SCHEMAS[config].features
    Dataset.from_dict(table, features=features).to_parquet(str(source / parquet_path(config)))


def problems(source):
    return [str(problem) for problem in check_source(str(source)).problems]


def test_clean_source_passes_on_the_command_line(pristine, capsys):
    assert main(["data", "check", str(pristine)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 47 configs, ") and f"(revision {dataset_revision(str(pristine))})" in out
    assert main(["data", "check", str(pristine), "--revision", "main"]) == 2
    assert "a revision applies to Hub sources only" in capsys.readouterr().err


def test_missing_column(source, capsys):
    table = read(source, "forget10")
    del table["name"]
    write(
        source,
        "forget10",
        table,
        Features({k: v for k, v in SCHEMAS["forget10"].features.items() if k != "name"}),
    )
    assert main(["data", "check", str(source)]) == 2
    err = capsys.readouterr().err
    assert "config 'forget10', column 'name': column is missing" in err
    assert "Traceback" not in err


def test_undecodable_image(source):
    table = read(source, "full")
    table["image"][3] = {"bytes": b"not a png", "path": None}
    write(source, "full", table)
    assert problems(source) == [
        "config 'full', row 3, column 'image': cannot decode image (not a known image format)"
    ]


def test_overlapping_persons(source):
    forget, retain = read(source, "forget10"), read(source, "retain90")
    moved = {column: retain[column] + forget[column][:1] for column in retain}
    write(source, "retain90", moved)
    person = forget["name"][0]
    assert f"config 'forget10', column 'name': persons also in 'retain90': {person}" in problems(source)


def test_person_in_neither_forget_nor_retain(source):
    retain = read(source, "retain90")
    dropped = retain["name"][0]
    write(
        source,
        "retain90",
        {c: [v for v, n in zip(values, retain["name"]) if n != dropped] for c, values in retain.items()},
    )
    assert (
        f"config 'retain90', column 'name': persons of 'full' in neither 'forget10' nor 'retain90': {dropped}"
    ) in problems(source)


def test_empty_perturbed_list(source):
    table = read(source, "forget10_perturbed")
    table["perturbed_captions"][0] = []
    write(source, "forget10_perturbed", table)
    assert problems(source) == [
        "config 'forget10_perturbed', row 0, column 'perturbed_captions': list is empty"
    ]


def test_perturbed_list_of_inconsistent_length(source):
    table = read(source, "tofu_retain_perturbed")
    table["perturbed_answer"][2] = table["perturbed_answer"][2][:3]
    write(source, "tofu_retain_perturbed", table)
    assert problems(source) == [
        "config 'tofu_retain_perturbed', row 2, column 'perturbed_answer': list has 3 items, most rows have 5"
    ]


def test_wrong_type(source):
    table = read(source, "real_world")
    table["answer"] = list(range(len(table["answer"])))
    features = Features({**SCHEMAS["real_world"].features, "answer": Value("int64")})
    write(source, "real_world", table, features)
    assert problems(source) == [
        "config 'real_world', column 'answer': wrong type: expected string, found int64"
    ]


def test_missing_config(source):
    card = (source / "README.md").read_text()
    start = card.index("- config_name: real_faces\n")
    end = card.index("- config_name:", start + 1)
    (source / "README.md").write_text(card[:start] + card[end:])
    assert problems(source) == ["config 'real_faces': config is missing"]


def test_perturbed_row_not_drawn_from_its_base_split(source):
    table = read(source, "forget10_perturbed")
    table["caption"][1] = "Somebody Else, a painter, stands in a park."
    write(source, "forget10_perturbed", table)
    assert problems(source) == [
        "config 'forget10_perturbed', row 1, column 'caption': not drawn from "
        "'forget10' (no row there has this caption)"
    ]


def test_text_qa_fields_present(source):
    table = read(source, "full+tofu")
    last = len(table["question"]) - 1  # a text row
    table["answer"][last] = None
    write(source, "full+tofu", table)
    assert problems(source) == [f"config 'full+tofu', row {last}, column 'answer': value is empty"]


def test_a_broken_column_is_summarised_not_listed_row_by_row(source):
    table = read(source, "full")
    table["image"] = [{"bytes": b"junk", "path": None}] * len(table["image"])
    write(source, "full", table)
    found = problems(source)
    assert len(found) == ROW_PROBLEMS_PER_COLUMN + 1
    assert (
        found[-1] == f"config 'full', column 'image': {len(table['image']) - ROW_PROBLEMS_PER_COLUMN} "
        "more rows with problems"
    )


def test_unreadable_sources_are_user_errors(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["data", "check", str(tmp_path / "empty")]) == 2
    assert "README.md" in capsys.readouterr().err


def test_tofu_variant_must_hold_exactly_its_caption_and_text_rows(source):
    table = read(source, "forget05+tofu")
    write(source, "forget05+tofu", {column: values[:-1] for column, values in table.items()})
    rows = len(table["image"])
    assert problems(source) == [
        f"config 'forget05+tofu': has {rows - 1} rows, expected {len(read(source, 'forget05')['image'])} "
        f"from 'forget05' plus {len(read(source, 'tofu_forget05')['question'])} from 'tofu_forget05'"
    ]


def test_holdout_people_must_never_be_trained_on(source):
    holdout, full = read(source, "holdout05"), read(source, "full")
    write(source, "holdout05", {column: holdout[column] + full[column][:1] for column in holdout})
    tofu_holdout, tofu_full = read(source, "tofu_holdout05"), read(source, "tofu_full")
    write(source, "tofu_holdout05", {c: tofu_holdout[c] + tofu_full[c][:2] for c in tofu_holdout})
    assert problems(source) == [
        "config 'tofu_holdout05', column 'question': 2 questions also in 'tofu_full'",
        f"config 'holdout05', column 'name': persons also in 'full' (holdout people must never be trained on): "
        f"{full['name'][0]}",
    ]
