"""One registry type for every plugin kind: name → object, listed, filled from entry points.

Methods, tasks, model families, metrics and attacks each keep one `Registry`. A registry is a dict,
so reading it is reading a dict; what it adds:
  * `add` refuses a second object under a taken name (`DuplicateError`, exit 2 from the command line);
  * `origins` says where each entry came from: "built-in", "entry point NAME (dist VERSION)", a file;
  * `load_entry_points` registers the objects of its entry-point group (`clearbench.<kind>s`), so
    `pip install` of a package adds them. A broken plugin does not stop the others, nor any command
    that does not ask for it: its one-line reason is kept in `broken` and raised by `find`;
  * `find` gives the object of a name, or a UserError listing the known names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any, Generic, TypeVar

from clearbench.errors import UserError

T = TypeVar("T")
BUILT_IN = "built-in"


class DuplicateError(UserError, ValueError):
    """A name registered twice: the user's plugin (exit 2), and a ValueError for code that registers."""


def entry_point_origin(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    shown = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"entry point {entry.name} ({shown})"


class Registry(dict, Generic[T]):
    """The objects of one plugin kind by name, with where each came from."""

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        name_of: Callable[[Any], str] = lambda obj: obj.name,
        check: Callable[[Any, str], T] | None = None,
        built_in: Iterable[T] = (),
    ):
        super().__init__()
        self.kind = kind  # "method", "task", "model family", "metric": how messages name an entry
        self.group = group  # the entry-point group its plugins are installed under
        self.name_of = name_of
        self.check = check  # a plugin → the checked object, or UserError naming `where` it came from
        self.origins: dict[str, str] = {}
        self.broken: dict[str, str] = {}  # entry-point name → why it gives no usable object
        for obj in built_in:
            self.add(obj)

    def add(self, obj: T, origin: str = BUILT_IN, *, replace: bool = False) -> T:
        """Register `obj` under its name; a taken name is a DuplicateError unless `replace`."""
        name = self.name_of(obj)
        if name in self and not replace:
            raise DuplicateError(
                f"{self.kind} {name!r} is already declared ({self.origins.get(name, 'registered in code')})"
            )
        self[name] = obj
        self.origins[name] = origin
        self.broken.pop(name, None)
        return obj

    def remove(self, name: str) -> None:
        """Forget `name` (and where it came from), if registered."""
        self.pop(name, None)
        self.origins.pop(name, None)
        self.broken.pop(name, None)

    def find(self, name: str) -> T:
        """The object registered as `name`; a UserError saying why not (a broken plugin's reason)."""
        if name in self:
            return self[name]
        if name in self.broken:
            raise UserError(self.broken[name])
        raise UserError(
            f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self))} "
            f"(or an installed `{self.group}` entry point)"
        )

    def load_entry_points(self) -> None:
        """Register every object of this registry's entry-point group (installed packages)."""
        for entry in metadata.entry_points(group=self.group):
            if entry.name in self and self.origins.get(entry.name) != BUILT_IN:
                continue  # loaded already
            where = f"entry point {entry.name!r} = {entry.value!r} (group {self.group})"
            try:
                self.add(self._load(entry, where), entry_point_origin(entry))
            except UserError as error:
                self.broken[entry.name] = str(error)

    def _load(self, entry: metadata.EntryPoint, where: str) -> T:
        if self.origins.get(entry.name) == BUILT_IN:
            raise UserError(f"{where}: {entry.name!r} is a built-in {self.kind}'s name; choose another")
        try:
            obj = entry.load()
        except Exception as error:
            raise UserError(f"{where}: cannot import it: {type(error).__name__}: {error}") from None
        if self.check is not None:
            obj = self.check(obj, where)
        name = self.name_of(obj)
        if name != entry.name:
            raise UserError(f"{where}: the entry point's name differs from the {self.kind}'s name {name!r}")
        return obj
