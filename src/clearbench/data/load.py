"""One loader for a Hub id or a local directory, through the same `datasets.load_dataset` call.

A local directory is a Hugging Face dataset repository: a README whose YAML header has a `configs:`
table, plus parquet files. On the Hub, CLEAR's text-QA evaluation sets live in `locuslab/TOFU`, so
a `tofu_X` config of a Hub source loads TOFU's config `X`.

Offline (`HF_HUB_OFFLINE=1`), a Hub id is read from its snapshot in the Hugging Face cache (as
`hf download therem/CLEAR --repo-type dataset` or an earlier online run left it), and the snapshot's
commit is the revision a run records. A local copy of CLEAR has no TOFU half: `tofu_source(...)`
(`data.tofu_source` in a run config, `--tofu-source` on the command line) names a local copy or Hub id
of `locuslab/TOFU` that `tofu_X` configs are read from instead.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


def _local_dir(source: str, links_within: Path | None = None) -> Path:
    """The folder of a local source, its card checked; `links_within`: the folder its files' links may
    lead into (a Hub cache snapshot's files are links into the repository's `blobs/`)."""
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
    _check_card(source, path, links_within)
    return path


def check_source_exists(source: str, revision: str | None = None) -> None:
    """Refuse, without loading anything, a local source that cannot be used, or offline a Hub source
    (or TOFU source) that is not in the cache (online, a Hub source is checked when it is loaded)."""
    if is_local(source):
        if revision is not None:
            raise UserError(f"data source '{source}': a revision applies to Hub sources only")
        _local_dir(source)
    elif hub_offline():
        _require_snapshot(source, revision)
    tofu = tofu_source_override()
    if tofu is not None:
        if is_local(tofu):
            _local_dir(tofu)
        elif hub_offline():
            _require_snapshot(tofu, None)


# --- offline: the Hugging Face cache -------------------------------------------------------------
TOFU_SOURCE_ENV = "CLEARBENCH_TOFU_SOURCE"


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or HF_DATASETS_OFFLINE) is set: the Hub is not asked, its cache is read."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("HF_DATASETS_OFFLINE", ""))
    return constants.HF_HUB_OFFLINE or any(flag.upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


def hub_cache() -> Path:
    """The Hugging Face hub cache folder (HF_HUB_CACHE, else HF_HOME/hub, as huggingface_hub reads)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


@dataclass(frozen=True)
class Snapshot:
    path: Path  # the snapshot folder: the repository's files at `commit`
    commit: str
    repo_folder: Path  # holds `blobs/`, where the snapshot's files link to


def cached_snapshot(repo_id: str, revision: str | None = None) -> Snapshot | None:
    """The cached snapshot of dataset repo `repo_id` at `revision` (a commit, or a ref such as a branch
    or tag the cache recorded), by huggingface_hub's cache scan; without a revision, the one `main`
    points to, else the newest. None when the cache holds none."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound, CorruptedCacheException

    try:
        info = scan_cache_dir(hub_cache())
    except (CacheNotFound, CorruptedCacheException, OSError):
        return None
    repo = next((r for r in info.repos if r.repo_id == repo_id and r.repo_type == "dataset"), None)
    if repo is None or not repo.revisions:
        return None
    revisions = sorted(repo.revisions, key=lambda rev: rev.last_modified, reverse=True)
    if revision is not None:
        matches = [rev for rev in revisions if rev.commit_hash.startswith(revision) or revision in rev.refs]
    else:
        matches = [rev for rev in revisions if "main" in rev.refs] or revisions
    if not matches:
        return None
    return Snapshot(Path(matches[0].snapshot_path), matches[0].commit_hash, Path(repo.repo_path))


def _require_snapshot(repo_id: str, revision: str | None) -> Snapshot:
    snapshot = cached_snapshot(repo_id, revision)
    if snapshot is None:
        at = f" at revision {revision!r}" if revision else ""
        raise UserError(
            f"data source '{repo_id}'{at} is not in the Hugging Face cache ({hub_cache()}) and HF_HUB_OFFLINE "
            f"is set: download it where there is internet (`hf download {repo_id} --repo-type dataset`, "
            "then copy the cache folder), or name a local copy of it"
        )
    return snapshot


def tofu_source_override() -> str | None:
    """Where `tofu_X` configs are read from when not from the data source itself (see `tofu_source`)."""
    return os.environ.get(TOFU_SOURCE_ENV) or None


@contextmanager
def tofu_source(source: str | None) -> Iterator[None]:
    """Read `tofu_X` configs from `source` (a local copy or Hub id of locuslab/TOFU) inside; None leaves
    things as they are. An environment variable, so `accelerate launch` workers inherit it."""
    if source is None:
        yield
        return
    if is_local(source):
        _local_dir(source)
    previous = os.environ.get(TOFU_SOURCE_ENV)
    os.environ[TOFU_SOURCE_ENV] = str(source)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(TOFU_SOURCE_ENV, None)
        else:
            os.environ[TOFU_SOURCE_ENV] = previous


@dataclass(frozen=True)
class Location:
    """Where one config of a source is read: `datasets.load_dataset(repo, name, revision=revision)`."""

    repo: str  # a local folder (a copy, or a cache snapshot) or a Hub id
    name: str
    revision: str | None
    local: bool
    commit: str | None = None  # a cache snapshot's commit


def locate(source: str, config: str, revision: str | None = None) -> Location:
    """Where config `config` of `source` is read: the source itself; for `tofu_X`, the TOFU source (a
    Hub source's TOFU half is locuslab/TOFU, unpinned: its history is unrelated); offline, a Hub id's
    snapshot in the cache."""
    if is_local(source) and revision is not None:
        raise UserError(f"data source '{source}': a revision applies to Hub sources only")
    tofu = tofu_source_override()
    repo, name = source, config
    if is_tofu(config) and (tofu is not None or not is_local(source)):
        repo, name, revision = tofu or HUB_TOFU, config[len(TOFU_PREFIX) :], None
    if is_local(repo):
        return Location(str(_local_dir(repo)), name, None, True)
    if hub_offline():
        snapshot = cached_snapshot(repo, revision)
        if snapshot is not None:
            _local_dir(str(snapshot.path), links_within=snapshot.repo_folder)
            return Location(str(snapshot.path), name, None, True, snapshot.commit)
    return Location(repo, name, revision, False)


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


def _check_card(source: str, directory: Path, links_within: Path | None = None) -> None:
    configs = _card_header(source, directory / "README.md").get("configs")
    root = directory.resolve()
    allowed = (links_within or directory).resolve()
    for config in configs if isinstance(configs, list) else []:
        if not isinstance(config, dict):
            continue
        name = config.get("config_name", "default")
        for key in ("data_files", "data_dir"):
            for path in _card_paths(config.get(key)):
                problem = _outside(root, path, allowed)
                if problem:
                    raise UserError(
                        f"data source '{source}': README.md, config '{name}', {key} '{path}' {problem}; "
                        "a dataset card may only name files inside its own folder"
                    )


def _outside(root: Path, path: str, allowed: Path | None = None) -> str | None:
    """Why `path` (from a card in `root`) leads outside `root` (its links: outside `allowed`), or None."""
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
            candidate.resolve().relative_to(allowed or root)
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

    where = locate(source, config, revision)
    repo, name, local = where.repo, where.name, where.local
    # datasets keys its cache of a local directory on the path alone (a regenerated directory
    # would load stale rows), so a local source gets a cache folder per version of its files.
    cache_dir = _local_cache_dir(Path(repo)) if local else None
    try:
        splits = datasets.load_dataset(repo, name, revision=where.revision, cache_dir=cache_dir)
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
        text_half = is_tofu(config) and (tofu_source_override() is not None or not is_local(source))
        shown = f"{source} (text half: {tofu_source_override() or HUB_TOFU})" if text_half else source
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = ""
        if not local and hub_offline():
            hint = f"; HF_HUB_OFFLINE is set and the Hugging Face cache ({hub_cache()}) has no snapshot of {repo}"
        raise UserError(
            f"data source '{shown}', config '{config}': cannot load: {first_line}{hint}"
        ) from error
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

    tofu = tofu_source_override()
    if is_local(source):
        own = _folder_configs(source, _local_dir(source))
        if tofu is None:
            return own
        return [c for c in own if not is_tofu(c)] + [TOFU_PREFIX + c for c in list_configs_of(tofu)]
    return list_configs_of(source) + [TOFU_PREFIX + name for name in list_configs_of(tofu or HUB_TOFU)]


def list_configs_of(repo: str) -> list[str]:
    """The configs of one repository (a local folder, or a Hub id: offline, its cached snapshot)."""
    import datasets

    if is_local(repo):
        return _folder_configs(repo, _local_dir(repo))
    if hub_offline():
        snapshot = _require_snapshot(repo, None)
        return _folder_configs(repo, _local_dir(str(snapshot.path), links_within=snapshot.repo_folder))
    try:
        return list(datasets.get_dataset_config_names(repo))
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as error:
        raise UserError(f"data source '{repo}': cannot list configs: {error}") from error


def _folder_configs(source: str, directory: Path) -> list[str]:
    import datasets

    try:
        return list(datasets.get_dataset_config_names(str(directory)))
    except Exception as error:  # a malformed card or data file list; the message says which
        raise UserError(f"data source '{source}': cannot read its configs from README.md: {error}") from error


def dataset_revision(source: str, revision: str | None = None) -> str:
    """What a run records about its data: the given revision, the Hub commit (offline: the cached
    snapshot's), or, for a local directory, a content hash of its card and parquet files
    (`sha256:<hex>`); with a TOFU source of its own (`tofu_source`), `+tofu:` and that one's."""
    own = _own_revision(source, revision)
    tofu = tofu_source_override()
    return own if tofu is None else f"{own}+tofu:{_own_revision(tofu, None)}"


def _own_revision(source: str, revision: str | None) -> str:
    if is_local(source):
        if revision is not None:
            raise UserError(f"data source '{source}': a revision applies to Hub sources only")
        return "sha256:" + content_hash(_local_dir(source))
    if hub_offline():
        snapshot = cached_snapshot(source, revision)
        if snapshot is not None:
            return snapshot.commit
        if revision is None:
            _require_snapshot(source, revision)
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
