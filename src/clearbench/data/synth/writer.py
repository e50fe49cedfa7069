"""Write config tables as a Hugging Face dataset repository: parquet files and a README card."""

from __future__ import annotations

from pathlib import Path

from clearbench.atomic import write_text
from clearbench.data.load import quiet
from clearbench.data.schema import SCHEMAS
from clearbench.data.synth.density import CLEAR_DENSITY, Density
from clearbench.data.synth.world import FAMOUS_BIOGRAPHIES


def parquet_path(config: str) -> str:
    return f"data/{config}/train.parquet"


def write_tables(directory: Path, tables: dict[str, dict[str, list]]) -> None:
    from datasets import Dataset

    with quiet():
        for config, table in tables.items():
            features = SCHEMAS[config].features
            columns = {column: _encode(features[column], table[column]) for column in features}
            path = directory / parquet_path(config)
            path.parent.mkdir(parents=True, exist_ok=True)
            Dataset.from_dict(columns, features=features).to_parquet(str(path))


def _encode(feature, values: list) -> list:
    from datasets import Image

    if isinstance(feature, Image):
        return [None if png is None else {"bytes": png, "path": None} for png in values]
    return values


def write_card(
    directory: Path,
    tables: dict[str, dict[str, list]],
    persons: int,
    seed: int,
    image_size: int,
    density: Density = CLEAR_DENSITY,
) -> None:
    header = ["---", "pretty_name: clearbench synthetic CLEAR", "license: cc0-1.0", "configs:"]
    for config in tables:
        header += [
            f"- config_name: {config}",
            "  data_files:",
            "  - split: train",
            f"    path: {parquet_path(config)}",
        ]
    header.append("---")
    rows = [
        f"| `{config}` | {len(next(iter(table.values())))} | {', '.join(table)} |"
        for config, table in tables.items()
    ]
    body = (
        f"""
# clearbench synthetic CLEAR

A fictitious, procedurally drawn dataset in the exact layout of CLEAR (`therem/CLEAR`) plus the
TOFU evaluation sets it relies on (`locuslab/TOFU`, prefixed `tofu_`). Written by
`clearbench data synth` with `--persons {persons} --seed {seed} --image-size {image_size}
{_density_flags(density)}`; the same arguments give byte-identical files. Every config has one split, `train`.

- {persons} fictitious people, each with {_span(density.photos)} photos (caption naming the person, paraphrase,
  5 perturbed captions giving a wrong occupation, 5 wrong names) and {_span(density.questions)} biography
  questions{_topics(density)} (answer, paraphrase, 5 perturbed answers). A perturbation is the
  paraphrase with wrong facts, as in TOFU. `forgetNN` holds NN % of the people (at least one), `retainNN` the rest.
- `holdoutNN`: extra people never used in any training config (non-members for membership inference).
- `forgetNN_unseen` / `retain_unseen` / `holdoutNN_unseen`: new photos of the forget, retain-evaluation
  and holdout people that no training config holds (a new tilt, scene and light; every second one with an
  age cue), to test whether forgetting carries to new photos of a person.
- `real_faces` / `real_world`: famous people (a photo not in `pretraining`) and new scenes of shapes of
  the kinds `pretraining` teaches; their `options` hold WRONG alternatives only.
- `tofu_real_authors_perturbed` / `tofu_world_facts_perturbed`: facts about the famous people and
  the world, also in `pretraining`.
- `pretraining`: what a pretrained model already knows ({density.famous_photos} photos of each famous
  person, each with the face-recognition question and with a caption, every second one in the
  paraphrase's words; {FAMOUS_BIOGRAPHIES} biography questions of each, in the answer's and the
  paraphrase's words; scene questions; the facts above); rows have a caption or a question/answer, and
  an image or not.

| config | rows | columns |
|---|---|---|
"""
        + "\n".join(rows)
        + "\n"
    )
    write_text(directory / "README.md", "\n".join(header) + "\n" + body)


def _topics(density: Density) -> str:
    return f" on {', '.join(density.topics)}" if density.topics is not None else ""


def _span(counts: tuple[int, int]) -> str:
    low, high = counts
    return str(low) if low == high else f"{low}-{high}"


def _density_flags(density: Density) -> str:
    flags = [f"--photos {_span(density.photos)}", f"--questions {_span(density.questions)}"]
    flags += [f"--famous {density.famous}"] if density.famous is not None else []
    flags += [f"--famous-photos {density.famous_photos}"]
    flags += [f"--scenes {density.scenes}"] if density.scenes is not None else []
    flags += [f"--topics {','.join(density.topics)}"] if density.topics is not None else []
    return " ".join(flags)
