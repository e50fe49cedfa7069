"""The package's import graph, read with ast: no import circles, and no layer imports one above it.

Every import counts, also one inside a function or under TYPE_CHECKING: a circle hidden in a
function still ties two files together, and a layer rule holds for the whole file.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "clearbench"

# Known circles, to be removed by their own issues (each component as a set of module names); the
# report circle (leaderboard -> seeds -> tables) ended with issue 25.
KNOWN_CIRCLES: list[set[str]] = []

GROUND_FLOOR = {"errors", "atomic", "files", "settings", "versions", "registry"}
# Layer → the top-level parts of the package it must never import. `run` (config, pipeline, sweep,
# reuse, export) is the orchestration; only the commands and the visual track sit beside it.
ABOVE = {"methods", "train", "evaluate", "attacks", "report", "jobs", "run", "commands"}
NEVER = {
    **{floor: ABOVE | {"data", "models", "visual", "cli"} for floor in GROUND_FLOOR},
    "data": ABOVE | {"models", "visual"},
    "models": ABOVE,
    "methods": {"run", "jobs", "commands", "evaluate", "report", "attacks"},
    "evaluate": {"report", "run", "jobs", "commands", "attacks", "methods"},
}


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imported(module: str, path: Path) -> set[str]:
    """The absolute names one file imports from the package: `from a.b import c` gives a.b.c."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package upwards
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] == PACKAGE.name}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the package's modules it imports (a name that is not a module: its nearest module)."""
    modules = module_files(package)

    def nearest(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    return {
        module: {nearest(name) for name in _imported(module, path)} - {module}
        for module, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_circles():
    unknown = [sorted(c) for c in circles(import_graph()) if c not in KNOWN_CIRCLES]
    assert not unknown, f"import circles: {unknown}"


def test_no_layer_imports_one_above_it():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if _layer(target) in NEVER.get(_layer(module), ())
    )
    assert not wrong, "\n".join(wrong)


def test_the_package_root_holds_only_the_ground_floor_and_the_command_line():
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == GROUND_FLOOR | {"cli"}


def test_the_graph_reader_sees_lazy_relative_and_type_only_imports(tmp_path):
    package = tmp_path / "clearbench"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text("def f():\n    from clearbench.high import b\n")
    (package / "high.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .low.a import f\n"
    )
    (package / "alone.py").write_text("from clearbench import low\nimport os\n")
    graph = import_graph(package)
    assert graph["clearbench.low.a"] == {"clearbench.high"}
    assert graph["clearbench.high"] == {"clearbench.low.a"}
    assert graph["clearbench.alone"] == {"clearbench.low"}
    assert circles(graph) == [{"clearbench.high", "clearbench.low.a"}]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [{"a", "b", "c"}]),
        ({"a": {"b"}, "b": set(), "c": {"b"}}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c", "a"}}, [{"a", "b"}, {"c", "d"}]),
    ],
)
def test_circles_hand_checked(graph, expected):
    assert sorted(map(sorted, circles(graph))) == sorted(map(sorted, expected))


def test_the_command_line_starts_without_the_heavy_libraries():
    # `clearbench --help` builds every subcommand's parser; transformers and datasets (about 0.7 s
    # each on the 2-core machine) load only when a command runs.
    import subprocess
    import sys

    code = "import sys; from clearbench.cli import build_parser; build_parser(); print(*sorted(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert not loaded & {"transformers", "datasets"}
