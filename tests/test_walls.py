"""The walls between production code, the tests and the benchmarks, read from the import statements.

The tests and the benchmarks share the fakes and fixtures through `testkit`, so neither imports
the other (nor does testkit import either); production code (bot/, handlers/, storage/, main.py)
imports none of the three. Every import counts, inside functions and under `if TYPE_CHECKING:` too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from testkit import ROOT

PRODUCTION = ["bot", "handlers", "storage", "main.py"]


def python_files(*places: str) -> list[Path]:
    files: list[Path] = []
    for place in places:
        path = ROOT / place
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every absolute import in the file."""
    packages: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            packages |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.split(".")[0])
    return packages


@pytest.mark.parametrize(("places", "forbidden"), [
    (["bench"], {"tests"}),
    (["tests"], {"bench"}),
    (["testkit"], {"tests", "bench"}),
    (PRODUCTION, {"testkit", "tests", "bench"}),
], ids=["bench-imports-no-tests", "tests-import-no-bench", "testkit-imports-neither",
        "production-imports-no-test-code"])
def test_no_import_crosses_a_wall(places: list[str], forbidden: set[str]) -> None:
    files = python_files(*places)
    assert files, places
    crossing = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & forbidden) for path in files}
    assert {path: found for path, found in crossing.items() if found} == {}


def test_the_wall_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from tests.helpers import poll_until\n    import bench.load\n", encoding="utf-8")
    assert imported_packages(module) == {"tests", "bench"}
