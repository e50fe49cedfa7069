"""The safe file layer: how clearbench copies, reads and writes files a user or another process made.

Guarantees, each a `UserError` (one line naming the path, exit 2) when it cannot hold:

- **No link leaves its root.** `copy_tree` copies a folder without following a symbolic link out of
  it: a link whose target stays inside the folder is copied as a link (relative), one that leaves
  it is refused, naming the link and its target. Devices, FIFOs and sockets are refused too.
  `inside` / `require_inside` check one path the same way (e.g. a job folder of a run).
- **No input overwritten.** `refuse_input` refuses an output that is, holds or lies inside an
  input; `claim_folder` writes into a folder only when it is new, empty, or marked as clearbench's
  own output (`MARKER`, written when the folder is claimed), never into a folder of the user's.
  `require_real_folder` refuses to write through a link (`RUN/report` linked to another folder).
- **Guarded reads.** `read_json` reads only regular files (not `/dev/zero`, not a FIFO), at most
  `MAX_JSON_BYTES`, nested at most `MAX_DEPTH` deep; `number` reads one finite number;
  `check_safetensors` reads a weights file's header with safetensors itself (a data file's parquet
  is checked where it is loaded, `clearbench.data.load`).
- **Content, not paths.** `weights_hash` is the SHA-256 of a checkpoint's weight files, recorded
  once at save (`WEIGHTS`) so later checks cost a stat per file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from clearbench import atomic
from clearbench.errors import UserError

MARKER = ".clearbench-output"
WEIGHTS = "weights.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# JSON a user or process may have written: run records, eval logs, state files. The largest a
# clearbench run writes is an eval log (~1 MB per 100 rows); 1 GiB leaves room for big official logs.
MAX_JSON_BYTES = 1 << 30
MAX_DEPTH = 64  # our files nest at most 5 deep
_CHUNK = 1 << 20


# ---- links -----------------------------------------------------------------------------------
def inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether `path`, every link resolved, is `root` or lies under it (root's links resolved too)."""
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def require_inside(root: str | os.PathLike, path: str | os.PathLike, what: str = "") -> Path:
    """`path`, refused when a link takes it out of `root`."""
    if not inside(root, path):
        raise UserError(
            f"{what + ': ' if what else ''}{path} is a link out of {root} (to {os.path.realpath(path)}); "
            "clearbench never follows a link out of a run or dataset folder"
        )
    return Path(path)


def copy_tree(
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    hard_links: bool = False,
    skip: Callable[[str], bool] = lambda name: False,
) -> None:
    """Copy the folder `source` to `target` (which must not exist), never following a link out of
    `source`: a link inside it is copied as a relative link, one leading out is refused. Files are
    hard links when `hard_links` and the file system allows, else copies. `skip(name)`: leave out
    the entries with that name. The copy appears whole or not at all (built in a sibling, renamed).
    """
    source, target = Path(source), Path(target)
    root = os.path.realpath(source)
    if not source.is_dir():
        raise UserError(f"{source}: no such folder")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.copying")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _copy_folder(source, tmp, root, hard_links, skip)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _copy_folder(folder: Path, to: Path, root: str, hard_links: bool, skip) -> None:
    to.mkdir(parents=True)
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if skip(entry.name):
            continue
        path, destination = Path(entry.path), to / entry.name
        if entry.is_symlink():
            _copy_link(path, destination, root)
        elif entry.is_dir(follow_symlinks=False):
            _copy_folder(path, destination, root, hard_links, skip)
        elif entry.is_file(follow_symlinks=False):
            if hard_links:
                try:
                    os.link(path, destination, follow_symlinks=False)
                    continue
                except OSError:
                    pass
            shutil.copy2(path, destination, follow_symlinks=False)
        else:
            raise UserError(f"{path}: not a regular file, folder or link (a device, FIFO or socket)")


def _copy_link(link: Path, destination: Path, root: str) -> None:
    resolved = os.path.realpath(link)
    if not (resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep)):
        raise UserError(
            f"{link} is a link out of {root} (to {os.readlink(link)}); clearbench never follows or "
            "copies a link out of a run or dataset folder"
        )
    real_parent = os.path.realpath(link.parent)
    os.symlink(os.path.relpath(resolved, real_parent), destination)


# ---- outputs ---------------------------------------------------------------------------------
def refuse_input(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], flag: str) -> None:
    """Refuse an output folder that is an input, holds one, or lies inside one (writing there could
    overwrite it). Inputs that are not local paths (Hub ids, presets) are skipped."""
    out_real = os.path.realpath(out)
    for given in inputs:
        if not isinstance(given, (str, os.PathLike)) or not os.path.exists(given):
            continue
        real = os.path.realpath(given)
        if real == out_real or inside(out_real, real) or inside(real, out_real):
            raise UserError(
                f"{flag} {out} would overwrite the input {given}; choose an output outside every input"
            )


def owned(folder: str | os.PathLike) -> bool:
    """Whether `folder` is clearbench's own output (it holds the marker clearbench wrote there)."""
    return (Path(folder) / MARKER).is_file()


def claim_folder(
    folder: str | os.PathLike,
    flag: str,
    *,
    legacy: Callable[[Path], bool] | None = None,
    mark_now: bool = True,
) -> Path:
    """Make `folder` clearbench's output: new or empty (then marked), or already marked. A non-empty
    folder without the marker is the user's and refused; `legacy(folder)` may accept the outputs of
    clearbench versions from before the marker (then they are marked now). `mark_now=False` only
    checks, for a command that validates more before it writes anything (it calls `mark` then)."""
    folder = Path(folder)
    if folder.is_symlink() and not folder.is_dir():
        raise UserError(f"{flag} {folder} is a broken link (to {os.readlink(folder)})")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{flag} {folder} exists and is not a folder")
    if folder.is_dir() and not owned(folder):
        if any(folder.iterdir()) and not (legacy is not None and legacy(folder)):
            raise UserError(
                f"{flag} {folder} is a non-empty folder clearbench did not create (no {MARKER}); "
                "choose a new or empty folder"
            )
    if mark_now:
        mark(folder)
    return folder


def mark(folder: str | os.PathLike) -> None:
    """Write the marker that makes `folder` clearbench's own output (see `claim_folder`)."""
    if not owned(folder):
        atomic.write_text(Path(folder) / MARKER, "written by clearbench: this folder holds its output\n")


def require_real_folder(folder: str | os.PathLike, root: str | os.PathLike, what: str) -> Path:
    """`folder` (under `root`) to write into: refused when it, or a folder between, is a link."""
    folder = Path(folder)
    if os.path.lexists(folder) and (folder.is_symlink() or not inside(root, folder)):
        target = os.path.realpath(folder)
        raise UserError(
            f"{what} {folder} is a link (to {target}); clearbench does not write through links. "
            "Remove the link"
        )
    return folder


# ---- guarded reads -------------------------------------------------------------------------
def read_bytes(path: str | os.PathLike, limit: int, what: str = "") -> bytes:
    """At most `limit` bytes of the regular file `path`, refused when it is larger or not a file."""
    label = f"{what + ' ' if what else ''}{path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserError(f"{label}: no such file") from None
    except OSError as error:
        raise UserError(f"{label}: cannot read: {atomic.reason(error)}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{label}: not a regular file (a device, FIFO, socket or folder)")
        if info.st_size > limit:
            raise UserError(f"{label}: {info.st_size} bytes, more than the {limit} allowed")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UserError(f"{label}: more than the {limit} bytes allowed")
    return data


def read_json(
    path: str | os.PathLike, what: str = "", *, limit: int = MAX_JSON_BYTES, finite: bool = False
) -> Any:
    """The JSON value in `path`: a regular file of at most `limit` bytes, nested at most `MAX_DEPTH`
    deep; `finite` also refuses NaN and ±Infinity. Every failure names the file."""
    label = f"{what + ' ' if what else ''}{path}"
    data = read_bytes(path, limit, what)

    def constant(name: str):
        if finite:
            raise UserError(f"{label}: holds {name}, where a finite number is needed")
        return float(name)

    try:
        value = json.loads(data.decode("utf-8"), parse_constant=constant)
    except UnicodeDecodeError as error:
        raise UserError(f"{label}: not UTF-8 text: {error}") from None
    except RecursionError:
        raise UserError(f"{label}: nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{label}: not valid JSON: {error}") from None
    if depth(value) > MAX_DEPTH:
        raise UserError(f"{label}: nested deeper than {MAX_DEPTH} levels")
    return value


def depth(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            level += 1
            deepest = max(deepest, level)
            stack += [(child, level) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def read_json_object(path: str | os.PathLike, what: str = "", **options) -> dict:
    value = read_json(path, what, **options)
    if not isinstance(value, dict):
        raise UserError(
            f"{what + ' ' if what else ''}{path}: expected a JSON object, found {type(value).__name__}"
        )
    return value


def number(value: Any, where: str, *, finite: bool = True) -> float:
    """`value` as a float; a string, a bool, and (when `finite`) NaN or infinity are refused naming
    `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: expected a number, found {value!r}")
    if finite and not math.isfinite(value):
        raise UserError(f"{where}: expected a finite number, found {value!r}")
    return float(value)


def _regular_file(path: str | os.PathLike) -> os.stat_result:
    try:
        info = os.stat(path)
    except OSError as error:
        raise UserError(f"{path}: cannot read: {atomic.reason(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{path}: not a regular file (a device, FIFO, socket or folder)")
    return info


def check_safetensors(path: str | os.PathLike) -> None:
    """Refuse a .safetensors file whose header safetensors cannot read (corrupt or truncated)."""
    from safetensors import safe_open

    if _regular_file(path).st_size < 8:
        raise UserError(f"{path}: not a safetensors file (too short to hold a header)")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            handle.keys()
    except Exception as error:  # SafetensorError and friends: the file, not our code
        first = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"{path}: not a readable safetensors file: {first}") from None


def check_checkpoint(folder: str | os.PathLike) -> None:
    """Every safetensors file of a local checkpoint folder readable (a Hub id is left alone)."""
    if isinstance(folder, (str, os.PathLike)) and Path(folder).is_dir():
        for path in sorted(Path(folder).glob("*.safetensors")):
            check_safetensors(path)


# ---- content hashes ------------------------------------------------------------------------
def file_hash(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weight_files(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def _stamp(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def record_weights(folder: str | os.PathLike) -> str:
    """Hash a checkpoint's weight files and record them in `WEIGHTS` (with each file's size and
    modification time, so an unchanged file is not read again); returns the checkpoint's hash."""
    folder = Path(folder)
    files = {p.name: {"sha256": file_hash(p), "stamp": _stamp(p)} for p in weight_files(folder)}
    combined = _combine({name: item["sha256"] for name, item in files.items()})
    atomic.write_json(folder / WEIGHTS, {"sha256": combined, "files": files})
    return combined


def weights_hash(folder: str | os.PathLike) -> str | None:
    """The SHA-256 of a local checkpoint's weight files (None: not a local folder). Files whose size
    and modification time match the record of `record_weights` are not read again."""
    if not isinstance(folder, (str, os.PathLike)) or not Path(folder).is_dir():
        return None
    folder, recorded = Path(folder), {}
    if (folder / WEIGHTS).is_file():
        try:
            recorded = read_json_object(folder / WEIGHTS, limit=1 << 20).get("files") or {}
        except UserError:
            recorded = {}
    recorded = recorded if isinstance(recorded, dict) else {}
    hashes = {}
    for path in weight_files(folder):
        known = recorded.get(path.name)
        if isinstance(known, dict) and known.get("stamp") == _stamp(path) and known.get("sha256"):
            hashes[path.name] = str(known["sha256"])
        else:
            hashes[path.name] = file_hash(path)
    return _combine(hashes) if hashes else None


def _combine(hashes: dict[str, str]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


# ---- saved training state ------------------------------------------------------------------
def state_seal(state_dir: str | os.PathLike, step: int) -> str:
    """What a saved training state at `step` is sealed with: the step and its model weights' hash,
    so progress that claims another step than its weights were saved at is found out."""
    weights = {p.name: file_hash(p) for p in sorted(Path(state_dir).glob("model*.safetensors"))}
    return _combine({"step": str(step), **weights})


def check_state(state_dir: str | os.PathLike, progress: Any, total: int) -> int:
    """The step of saved training state (`progress.json`'s record), checked against its weights and
    against the `total` steps of the run; a UserError naming the file otherwise."""
    path = Path(state_dir) / "progress.json"
    fix = f"delete {state_dir} to train from the start"
    if not isinstance(progress, dict):
        raise UserError(f"{path}: expected a JSON object; {fix}")
    step = progress.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UserError(f"{path}: 'step' must be a whole number of steps, found {step!r}; {fix}")
    if step > total:
        raise UserError(f"{path}: step {step} is past the {total} steps this training runs; {fix}")
    if progress.get("loss") is not None:
        number(progress["loss"], f"{path}, key 'loss'")
    if "seal" in progress and progress["seal"] != state_seal(state_dir, step):
        raise UserError(
            f"{path}: says step {step}, but the weights saved beside it are not the ones saved at that "
            f"step (edited or mixed state); {fix}"
        )
    return step
