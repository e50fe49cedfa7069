"""Mutation score of the method and engine tests: how many small wrong versions of the code they catch.

mutmut (https://mutmut.readthedocs.io, 3.x) rewrites each function of the files under test into many
mutants (a flipped sign, a changed constant, a dropped argument, `<` for `<=`, …), then runs, for
each mutant, the tests that execute that function. A mutant is killed when a test fails; a surviving
mutant in a loss formula is a wrong method the tests would not notice.

Not part of the test suite and not a dependency of the package: install the tool first,

    pip install 'mutmut>=3.3,<3.4'
    python benchmarks/mutation_score.py                          # methods/ + the unlearning engine
    python benchmarks/mutation_score.py --targets methods         # methods/*.py only
    python benchmarks/mutation_score.py --root /tmp/old-checkout  # another checkout's code and tests
    python benchmarks/mutation_score.py --targets engine --mutants 'clearbench.train.pairing*'  # a subset

The run happens in a scratch copy of the checkout (src/, tests/, pyproject.toml; nothing in the
checkout is written) with `[mutmut]` settings in a setup.cfg of that copy. mutmut leaves decorated
classes and functions alone, so in that copy each `@register` class is registered by a call after
its body instead (the same effect), which puts the methods' `loss`, `passes`, … under mutation;
`@property` and other decorated functions stay unmutated. Tests: the method,
unlearning and training test files, without the `slow` ones. On 2 CPU cores the default targets take
about an hour. Printed: killed / survived / untested / timed-out counts per file, the surviving
mutants by name (`mutmut show NAME` in the scratch copy shows one), and the score
killed ÷ (all mutants that ran or had no test), timeouts counted as killed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/clearbench")
TARGETS = {
    "methods": ["methods/*.py"],
    "engine": ["train/unlearn.py", "train/pairing.py", "train/reference.py"],
    "loop": ["train/loop.py"],
}
TEST_GLOBS = ("test_methods_*.py", "test_unlearn_*.py", "test_train_*.py")
# mutmut's exit-code meanings (mutmut.__main__.status_by_exit_code), folded into four outcomes
OUTCOME = {1: "killed", 3: "killed", 0: "survived", 5: "untested", 33: "untested"}
OUTCOME.update({code: "timeout" for code in (36, -24, 24, 152, 255)})


def target_files(root: Path, groups: list[str]) -> list[Path]:
    files = []
    for group in groups:
        for pattern in TARGETS[group]:
            files += sorted((root / PACKAGE).glob(pattern))
    return [path.relative_to(root) for path in files if path.name != "__init__.py"]


REGISTERED_CLASS = re.compile(r"^@register\nclass (\w+)\b", re.MULTILINE)


def undecorate(path: Path) -> None:
    """`@register class X …` → `class X …` followed by `register(X)`, for mutmut to reach X's methods."""
    text = path.read_text()
    names = REGISTERED_CLASS.findall(text)
    if names:
        text = REGISTERED_CLASS.sub(r"class \1", text)
        path.write_text(text + "".join(f"\n\nregister({name})\n" for name in names))


def scratch_copy(root: Path, work: Path, targets: list[Path], tests: list[str]) -> None:
    shutil.copytree(root / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for path in targets:
        undecorate(work / path)
    shutil.copytree(root / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "pyproject.toml", work / "pyproject.toml")
    if (root / "configs").is_dir():  # read by tests that mutmut may pick up as new
        shutil.copytree(root / "configs", work / "configs")
        shutil.copytree(root / "configs", work / "mutants" / "configs")
    keep = {str(path) for path in targets}
    others = sorted(
        str(p.relative_to(work)) for p in (work / "src").rglob("*.py") if str(p.relative_to(work)) not in keep
    )
    lines = ["[mutmut]", "paths_to_mutate=src/", "do_not_mutate="]
    lines += [f"    {path}" for path in others]
    # mutmut passes these to pytest: the test files, without the slow and the multi-process tests
    # (mutants are only linked to tests that run them in-process)
    deselect = ["-m", "not slow", "-k", "not two_cpu_processes"]
    lines += ["tests_dir="] + [f"    {test}" for test in [*tests, *deselect]]
    (work / "setup.cfg").write_text("\n".join(lines) + "\n")


def outcomes(work: Path) -> dict[str, dict[str, str]]:
    """{source file: {mutant name: outcome}} from mutmut's per-file result files."""
    found = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            source = str(meta.relative_to(work / "mutants"))[: -len(".meta")]
            found[source] = {
                name: OUTCOME.get(code, f"other({code})") for name, code in codes.items() if code is not None
            }
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose src/ and tests/ to use")
    parser.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=["methods", "engine"])
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a new temp one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the outcomes here")
    parser.add_argument(
        "--mutants", nargs="+", default=[], metavar="GLOB", help="test only these mutants (mutmut names)"
    )
    args = parser.parse_args()

    try:
        import mutmut
    except ImportError:
        print("mutmut is not installed: pip install 'mutmut>=3.3,<3.4'", file=sys.stderr)
        return 2
    root = args.root.resolve()
    targets = target_files(root, args.targets)
    tests = sorted(str(p.relative_to(root)) for g in TEST_GLOBS for p in (root / "tests").glob(g))
    work = (args.work or Path(tempfile.mkdtemp(prefix="clearbench-mutation-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "mutants").exists():  # else: continue an interrupted run there
        scratch_copy(root, work, targets, tests)
    print(
        f"mutmut {mutmut.__version__}: {len(targets)} files, {len(tests)} test files, in {work}", flush=True
    )

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTEST_ADDOPTS": "-p no:cacheprovider"}
    # not `python -m mutmut`: its mutants import `mutmut.__main__`, which must be a module, not __main__
    launcher = "import sys; from mutmut.__main__ import cli; sys.argv[0] = 'mutmut'; cli()"
    command = [sys.executable, "-c", launcher, "run", "--max-children", str(args.max_children), *args.mutants]
    with (work / "mutmut.log").open("w") as log:
        done = subprocess.run(command, cwd=work, env=env, check=False, stdout=log, stderr=subprocess.STDOUT)
    found = outcomes(work)
    if done.returncode != 0 or not any(found.values()):
        tail = (work / "mutmut.log").read_text(errors="replace").replace("\r", "\n").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        print(
            f"mutmut did not finish (exit {done.returncode}); its output: {work / 'mutmut.log'}",
            file=sys.stderr,
        )
        return 1

    totals: Counter = Counter()
    print(f"\n{'file':<44} {'killed':>7} {'surv.':>6} {'untest.':>8} {'timeout':>8}")
    for source, by_name in found.items():
        counts = Counter(by_name.values())
        totals.update(counts)
        print(
            f"{source.removeprefix('src/clearbench/'):<44} {counts['killed']:>7} {counts['survived']:>6} "
            f"{counts['untested']:>8} {counts['timeout']:>8}"
        )
    missed = Counter(
        (name.rsplit("__mutmut_", 1)[0], outcome)
        for by_name in found.values()
        for name, outcome in by_name.items()
        if outcome in ("survived", "untested")
    )
    if missed:
        print("\nmutants not killed, by function (`mutmut results` in the scratch copy names each one):")
        for (function, outcome), count in sorted(missed.items()):
            print(f"  {count:>4} {outcome:<9} {function.replace('.x_', '.').replace('ǁ', '.')}")
    total = sum(totals.values())
    detected = totals["killed"] + totals["timeout"]
    if args.json:
        args.json.write_text(json.dumps(found, indent=1))
    print(f"\nmutation score: {detected}/{total} = {detected / max(total, 1):.1%} (scratch copy: {work})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
