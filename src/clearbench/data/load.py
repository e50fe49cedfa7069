"""One loader for a Hub id or a local directory, through the same `datasets.load_dataset` call.

A local directory is a Hugging Face dataset repository: a README whose YAML header has a `configs:`
table, plus parquet files. On the Hub, CLEAR's text-QA evaluation sets live in `locuslab/TOFU`, so
a `tofu_X` config of a Hub source loads TOFU's config `X`.
"""

from __future__ import annotations

import hashlib
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
    if not path.is_dir():
        raise UserError(f"data source '{source}': no such directory")
    if not (path / "README.md").is_file():
        raise UserError(
            f"data source '{source}': no README.md with a `configs:` table "
            "(run `clearbench data synth` to create a local source)"
        )
    return path


def _hub_repo_and_config(source: str, config: str) -> tuple[str, str]:
    if is_tofu(config):
        return HUB_TOFU, config[len(TOFU_PREFIX) :]
    return source, config


def load_split(source: str, config: str, revision: str | None = None):
    """The single `train` split of `config` as a `datasets.Dataset`.

    `revision` pins the Hub source's version (a commit, tag or branch); it is not passed on to
    `locuslab/TOFU`, whose history is unrelated. A local directory has no revision.
    """
    import datasets

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
        return splits["train"]
    if len(splits) == 1:
        return next(iter(splits.values()))
    raise UserError(
        f"data source '{source}', config '{config}': no 'train' split (it has: {', '.join(splits)})"
    )


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
