"""One loader for a Hub id or a local directory, through the same `datasets.load_dataset` call.

A local directory is a Hugging Face dataset repository: a README whose YAML header has a `configs:`
table, plus parquet files. On the Hub, CLEAR's text-QA evaluation sets live in `locuslab/TOFU`, so
a `tofu_X` config of a Hub source loads TOFU's config `X`.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from contextlib import contextmanager
from pathlib import Path

from clearbench.data.schema import HUB_CLEAR, HUB_TOFU, TOFU_PREFIX, is_tofu
from clearbench.errors import UserError

DEFAULT_SOURCE = HUB_CLEAR


@contextmanager
def quiet():
    """Silence `datasets` progress bars (for commands whose stderr carries findings)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def is_local(source: str) -> bool:
    """Local unless it reads as a Hub id (`owner/name`) that names no existing path."""
    return Path(source).exists() or source.startswith((".", "/", "~")) or source.count("/") != 1


def _local_dir(source: str) -> Path:
    path = Path(source).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"data source '{source}' is a file, not a dataset directory")
    if not path.is_dir():
        raise UserError(f"data source '{source}': no such directory")
    if not (path / "README.md").is_file():
        raise UserError(
            f"data source '{source}': no README.md with a `configs:` table "
            "(run `clearbench data synth` to create a local source)"
        )
    _check_card(source, path)
    return path


def check_source_exists(source: str, revision: str | None = None) -> None:
    """Refuse, without loading anything, a local source that cannot be used (a Hub source is
    checked when it is loaded: that needs the network)."""
    if is_local(source):
        if revision is not None:
            raise UserError(f"data source '{source}': a revision applies to Hub sources only")
        _local_dir(source)


# --- the dataset card --------------------------------------------------------------------------
# A local source is what its folder holds: its revision is a hash of the folder's files and its cache
# key their sizes and times. A card that names files elsewhere (`../x`, `/abs/x`, a URL, a symbolic
# link out of the folder) would load data that neither records, so such a card is refused.


def _card_header(source: str, card: Path) -> dict:
    import yaml

    text = card.read_text(encoding="utf-8", errors="replace")
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", text, re.DOTALL | re.MULTILINE)
    if not match:
        return {}
    try:
        header = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise UserError(
            f"data source '{source}': README.md has an invalid YAML header{where}: {problem}"
        ) from None
    return header if isinstance(header, dict) else {}


def _card_paths(entry) -> list[str]:
    """Every path string of a config's `data_files` / `data_dir` (a string, a list, a split map…)."""
    if isinstance(entry, str):
        return [entry]
    if isinstance(entry, list):
        return [path for item in entry for path in _card_paths(item)]
    if isinstance(entry, dict):
        values = [entry["path"]] if "path" in entry else [v for k, v in entry.items() if k != "split"]
        return [path for value in values for path in _card_paths(value)]
    return []


def _check_card(source: str, directory: Path) -> None:
    configs = _card_header(source, directory / "README.md").get("configs")
    root = directory.resolve()
    for config in configs if isinstance(configs, list) else []:
        if not isinstance(config, dict):
            continue
        name = config.get("config_name", "default")
        for key in ("data_files", "data_dir"):
            for path in _card_paths(config.get(key)):
                problem = _outside(root, path)
                if problem:
                    raise UserError(
                        f"data source '{source}': README.md, config '{name}', {key} '{path}' {problem}; "
                        "a dataset card may only name files inside its own folder"
                    )


def _outside(root: Path, path: str) -> str | None:
    """Why `path` (from a card in `root`) leads outside `root`, or None."""
    if "://" in path or re.match(r"^[a-z0-9]+::", path) or path.startswith(("hf:", "zip:")):
        return "is a URL"
    if path.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", path):
        return "is an absolute path"
    if posixpath.normpath(path.replace("\\", "/")).split("/")[0] == "..":
        return "leads out of the folder"
    literal = re.split(r"[*?\[{]", path, maxsplit=1)[0]
    candidates = [root / literal] if literal == path else list(root.glob(path))[:10_000]
    if literal != path and literal:
        candidates.append(root / literal)
    for candidate in candidates:
        try:
            candidate.resolve().relative_to(root)
        except ValueError:
            return f"leads out of the folder (through the symbolic link {candidate.relative_to(root)})"
    return None


def _hub_repo_and_config(source: str, config: str) -> tuple[str, str]:
    if is_tofu(config):
        return HUB_TOFU, config[len(TOFU_PREFIX) :]
    return source, config


def load_split(source: str, config: str, revision: str | None = None, *, validate: bool = True):
    """The single `train` split of `config` as a `datasets.Dataset`.

    `revision` pins the Hub source's version (a commit, tag or branch); it is not passed on to
    `locuslab/TOFU`, whose history is unrelated. A local directory has no revision.

    Every caller (training, evaluation, preview) gets rows that passed the row checks of
    `clearbench data check` (`clearbench.data.check.check_split`: columns and types, decodable images
    within the pixel limit, non-empty text within the character limit); otherwise a UserError names
    the source, config, row and column of the first problem. A split is checked once per process.
    """
    import datasets
    from datasets.exceptions import DatasetGenerationError

    local = is_local(source)
    if local:
        if revision is not None:
            raise UserError(f"data source '{source}': a revision applies to Hub sources only")
        repo, name = str(_local_dir(source)), config
    else:
        repo, name = _hub_repo_and_config(source, config)
        if repo != source:
            revision = None
    # datasets keys its cache of a local directory on the path alone (a regenerated directory
    # would load stale rows), so a local source gets a cache folder per version of its files.
    cache_dir = _local_cache_dir(Path(repo)) if local else None
    try:
        splits = datasets.load_dataset(repo, name, revision=revision, cache_dir=cache_dir)
    except DatasetGenerationError as error:  # a data file that does not read as its format says
        cause = error.__cause__ or error
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise UserError(
            f"data source '{source}', config '{config}': cannot read its data files: "
            f"{type(cause).__name__}: {detail}"
        ) from None
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as error:
        if local and config not in list_configs(source):
            raise UserError(
                f"data source '{source}' has no config '{config}' (it has: {', '.join(list_configs(source))})"
            ) from error
        where = source if repo == source or local else f"{source} (text half: {repo})"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"data source '{where}', config '{config}': cannot load: {first_line}") from error
    # CLEAR ships one split per config; an early revision named real_world's split `test`.
    if "train" in splits:
        dataset = splits["train"]
    elif len(splits) == 1:
        dataset = next(iter(splits.values()))
    else:
        raise UserError(
            f"data source '{source}', config '{config}': no 'train' split (it has: {', '.join(splits)})"
        )
    if validate:
        from clearbench.data.check import require_valid  # check.py loads through this module

        require_valid(source, config, dataset)
    return dataset


def list_configs(source: str) -> list[str]:
    """Config names of a source; for a Hub source, TOFU's configs are listed as `tofu_X`."""
    import datasets

    if is_local(source):
        directory = _local_dir(source)
        try:
            return datasets.get_dataset_config_names(str(directory))
        except Exception as error:  # a malformed card or data file list; the message says which
            raise UserError(
                f"data source '{source}': cannot read its configs from README.md: {error}"
            ) from error
    try:
        clear = datasets.get_dataset_config_names(source)
        tofu = datasets.get_dataset_config_names(HUB_TOFU)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as error:
        raise UserError(f"data source '{source}': cannot list configs: {error}") from error
    return list(clear) + [TOFU_PREFIX + name for name in tofu]


def dataset_revision(source: str, revision: str | None = None) -> str:
    """What a run records about its data: the given revision, the Hub commit, or, for a local
    directory, a content hash of its card and parquet files (`sha256:<hex>`)."""
    if is_local(source):
        if revision is not None:
            raise UserError(f"data source '{source}': a revision applies to Hub sources only")
        return "sha256:" + content_hash(_local_dir(source))
    if revision is not None:
        return revision
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(source).sha
    except Exception as error:  # network, auth or missing repo: all the user's to fix
        raise UserError(f"data source '{source}': cannot read its Hub revision: {error}") from error


def _data_files(directory: Path) -> list[Path]:
    return [directory / "README.md", *sorted(directory.rglob("*.parquet"))]


def _local_cache_dir(directory: Path) -> str:
    """A cache folder that changes whenever a file of the source is rewritten (size or mtime)."""
    import datasets

    signature = hashlib.sha256()
    for path in _data_files(directory):
        if path.is_file():
            stat = path.stat()
            signature.update(
                f"{path.relative_to(directory).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode()
            )
    return str(Path(datasets.config.HF_DATASETS_CACHE) / "clearbench-local" / signature.hexdigest()[:16])


def content_hash(directory: Path) -> str:
    """sha256 over the relative path and bytes of README.md and every parquet file, in path order."""
    digest = hashlib.sha256()
    for path in _data_files(directory):
        if path.is_file():
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()
