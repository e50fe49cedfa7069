"""Atomic writes: a reader never sees a half-written file or directory.

A write goes to a temporary sibling, `.NAME.PID.XXXXXXXX.tmp`, that is renamed over NAME once
complete. A killed writer leaves its temporary behind; because the name carries the writer's process
id, the next write of the same NAME (and `clean_leftovers`, which a run calls on its directory)
removes the temporaries of processes that no longer exist, never those of a live writer.

A write that fails because of the output itself (disk full, read-only file system, no permission, a
file where a directory should be, a broken symbolic link) raises `OutputError`: a `UserError` (one
line, exit code 2) that is also an `OSError` with the original errno.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clearbench.errors import UserError

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# Errors that mean "this output cannot be written here", whatever wrote it.
UNWRITABLE = DISK_FULL | {errno.EROFS, errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR, errno.EISDIR}

# Temporaries: `.NAME.PID.RANDOM.tmp` (PID: the writer) and, from before PIDs, `.NAME.RANDOM.tmp`.
_RANDOM = r"[a-z0-9_]{8}"
_TEMPORARY = re.compile(rf"^\.(?P<name>.+)\.(?P<pid>\d+)\.{_RANDOM}\.tmp$")
_OLD_TEMPORARY = re.compile(rf"^\..+\.{_RANDOM}\.tmp$")


class OutputError(UserError, OSError):
    """An output that cannot be written; the message names the path and says why, on one line."""

    def __init__(self, message: str, cause: OSError | None = None):
        code = cause.errno if cause is not None else None
        OSError.__init__(self, code, message, getattr(cause, "filename", None))
        self.message = message

    def __str__(self) -> str:
        return self.message


def reason(error: OSError) -> str:
    """Why an OSError happened, in a few words a user can act on."""
    # os.replace(tmp, target) names both; the user knows only the target
    filename = getattr(error, "filename2", None) or getattr(error, "filename", None)
    if filename is not None and os.path.islink(filename) and not os.path.exists(filename):
        return f"{filename} is a broken symbolic link (to {os.readlink(filename)})"
    code = getattr(error, "errno", None)
    if code == errno.ENOSPC:
        return "disk full (no space left on device)"
    if code == errno.EDQUOT:
        return "disk quota exceeded"
    if code == errno.EFBIG:
        return "file too large for the file system"
    if code == errno.EROFS:
        return "read-only file system"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied{f' ({filename})' if filename else ''}"
    if code in (errno.EEXIST, errno.ENOTDIR) and filename is not None:
        return f"{filename} exists and is not a directory"
    if code == errno.EISDIR and filename is not None:
        return f"{filename} is a directory"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0] + (f" ({filename})" if filename else "")


def output_failure(error: BaseException) -> OSError | None:
    """The OSError behind `error` when it is a failure to write output, else None.

    Looks through the exception's causes, and recognises writers that do not raise OSError:
    safetensors (`SafetensorError: … IoError(Os { code: 28, kind: StorageFull, … })`) and torch's
    zip writer (`PytorchStreamWriter failed writing file …`).
    """
    seen = 0
    while error is not None and seen < 10:
        seen += 1
        if isinstance(error, OutputError) or isinstance(error, OSError) and error.errno in UNWRITABLE:
            return error
        text = str(error)
        match = re.search(r"\bOs \{ code: (\d+)", text)
        if match and int(match.group(1)) in UNWRITABLE:
            code = int(match.group(1))
            return OSError(code, os.strerror(code))
        for marker, code in (
            ("No space left on device", errno.ENOSPC),
            ("StorageFull", errno.ENOSPC),
            ("Disk quota exceeded", errno.EDQUOT),
            ("Read-only file system", errno.EROFS),
        ):
            if marker in text:
                return OSError(code, os.strerror(code))
        if "PytorchStreamWriter failed writing file" in text or "file write failed" in text:
            return OSError(errno.EIO, "a file could not be written (is the disk full?)")
        # `raise … from None` means the earlier error was not the reason (e.g. a data file that could
        # not be read, reported as a UserError): follow only what the error says it came from.
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None


def _output_error(error: OSError, path: Path) -> OutputError:
    if isinstance(error, OutputError):
        return error
    return OutputError(f"cannot write {path}: {reason(error)}", error)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or not a pid we can ask about): leave it be
    return True


def _is_leftover(name: str, include_old: bool) -> bool:
    match = _TEMPORARY.match(name)
    if match:
        return not process_alive(int(match.group("pid")))
    return include_old and bool(_OLD_TEMPORARY.match(name))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _clean_siblings(path: Path) -> None:
    """Remove temporaries of `path` left by writers that were killed."""
    prefix = f".{path.name}."
    try:
        names = [entry.name for entry in os.scandir(path.parent) if entry.name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.match(name)
        if match and match.group("name") == path.name and _is_leftover(name, include_old=False):
            _remove(path.parent / name)


def clean_leftovers(root: str | os.PathLike) -> list[Path]:
    """Remove every temporary under `root` left by a killed atomic write; return what was removed.

    Temporaries of live processes are kept; ones written before temporaries carried a process id
    are removed too (call this only on a directory no older clearbench is writing to).
    """
    removed = []
    for folder, dirs, files in os.walk(root):
        for name in list(dirs) + files:
            if _is_leftover(name, include_old=True):
                _remove(Path(folder) / name)
                removed.append(Path(folder) / name)
                if name in dirs:
                    dirs.remove(name)
    return removed


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_siblings(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    except OSError as error:
        raise _output_error(error, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _output_error(error, path) from None
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


@contextmanager
def directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `path` in one rename.

    A failure to write (in the body or while replacing) is an `OutputError` naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_siblings(path)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp"))
    except OSError as error:
        raise _output_error(error, path) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        failure = output_failure(error)
        if failure is not None and not isinstance(error, UserError):
            raise _output_error(failure, path) from None
        raise
