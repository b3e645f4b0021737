"""The layering rule (README, "Architecture"), checked over every .py file of the application with `ast`.

R1  storage/ imports from bot/ only the plain data models (bot/knowledge/models.py,
    bot/orders/models.py) and nothing from handlers/; those model modules import nothing
    from storage/, handlers/ or aiogram, and of the project only each other.
R2  Nothing outside the composition root (bot/app.py, bot/services.py) imports handlers/.
R3  Only modules under handlers/ create aiogram `Router(...)` objects.
R4  aiogram is imported only by handlers/, bot/telegram/ (the link to the Bot API) and the
    composition root; the domain packages, storage/, main.py, scripts/ and bench/ import no aiogram.

The tests (tests/, testkit/) drive the application from outside and are not part of a layer.
Every import counts, also one inside a function or under TYPE_CHECKING. A failure names the
file, the line, the import and the rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

COMPOSITION_ROOT = {"bot/app.py", "bot/services.py"}
DATA_MODELS = {"bot.knowledge.models", "bot.orders.models"}
TELEGRAM_PACKAGES = ("handlers/", "bot/telegram/")
OUTSIDE_THE_LAYERS = ("tests/", "testkit/")  # the tests: clients of the application, not a layer of it
SKIPPED_DIRS = {".venv", "venv", ".git", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache",
                ".pytest_cache"}


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in parts[:-1]):
            continue
        yield path


def module_name(rel: str) -> str:
    name = rel.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports(tree: ast.AST, rel: str, root: Path) -> Iterator[tuple[int, str, str]]:
    """(line, imported module, the import as written) for every import in the file.

    `from package import name` counts as importing `package.name` when that is a module
    (so `from bot.orders import models` is the data model, not the whole package).
    """
    package = module_name(rel) if rel.endswith("__init__.py") else module_name(rel).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this file's package
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)] if node.level > 1 else parent
                base = ".".join([*parent, *([base] if base else [])])
            names = ", ".join(alias.name for alias in node.names)
            written = f"from {'.' * node.level}{node.module or ''} import {names}"
            targets: dict[str, None] = {}  # in order, once each
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                as_path = root / candidate.replace(".", "/")
                is_module = as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file()
                targets[candidate if is_module else base] = None
            for target in targets:
                yield node.lineno, target, written


def creates_router(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "Router":
                yield node.lineno


def violations(root: Path) -> list[str]:
    found: list[str] = []
    for path in python_files(root):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(OUTSIDE_THE_LAYERS):
            continue
        me = module_name(rel)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)

        def report(line: int, written: str, rule: str, rel: str = rel) -> None:
            found.append(f"{rel}:{line}: `{written}` — {rule}")

        for line, target, written in imports(tree, rel, root):
            if rel.startswith("storage/"):
                if is_under(target, "handlers"):
                    report(line, written, "R1: storage/ imports nothing from handlers/")
                elif is_under(target, "bot") and target not in DATA_MODELS:
                    report(line, written, "R1: storage/ imports from bot/ only the data models "
                                          f"({', '.join(sorted(DATA_MODELS))})")
            if me in DATA_MODELS:
                project = is_under(target, "bot") or is_under(target, "storage") or is_under(target, "handlers")
                if is_under(target, "aiogram") or (project and target not in DATA_MODELS):
                    report(line, written, "R1: a data-model module imports no aiogram and, of the project, "
                                          "only the other data models")
            if is_under(target, "handlers") and not rel.startswith("handlers/") and rel not in COMPOSITION_ROOT:
                report(line, written, f"R2: only the composition root ({', '.join(sorted(COMPOSITION_ROOT))}) "
                                      "imports handlers/")
            if is_under(target, "aiogram") and not rel.startswith(TELEGRAM_PACKAGES) and rel not in COMPOSITION_ROOT:
                report(line, written, "R4: aiogram is imported only by handlers/, bot/telegram/ and the "
                                      "composition root; put the Telegram side there behind a protocol")
        if not rel.startswith("handlers/"):
            for line in creates_router(tree):
                report(line, "Router(...)", "R3: only modules under handlers/ create aiogram routers")
    return found


def test_the_application_keeps_its_layers() -> None:
    found = violations(ROOT)
    assert not found, "layering rule broken (README, Layout):\n" + "\n".join(found)


def test_the_check_sees_every_package() -> None:
    """Guard against a check that passes because it looked at nothing."""
    seen = {path.relative_to(ROOT).as_posix().split("/")[0] for path in python_files(ROOT)}
    assert {"bot", "handlers", "storage", "main.py"} <= seen


@pytest.mark.parametrize(("path", "source", "rule"), [
    ("storage/planted.py", "from bot.orders.service import OrderService\n", "R1"),
    ("storage/planted.py", "from bot.orders import models, service\n", "R1"),
    ("storage/planted.py", "import handlers.chat\n", "R1"),
    ("bot/orders/models.py", "from storage.db import Database\n", "R1"),
    ("bot/cache/planted.py", "def f():\n    from handlers import all_routers\n", "R2"),
    ("main.py", "import handlers\n", "R2"),
    ("bot/telegram/planted.py", "from aiogram import Router\nrouter = Router(name='x')\n", "R3"),
    ("bot/orders/planted.py", "from aiogram.types import Message\n", "R4"),
    ("bot/conversation.py", "from aiogram.enums import ChatAction\n", "R4"),
    ("storage/planted.py", "import aiogram\n", "R4"),
])
def test_a_planted_violation_is_named_with_file_line_and_import(
    tmp_path: Path, path: str, source: str, rule: str
) -> None:
    for package in ("bot", "bot/orders", "bot/cache", "bot/telegram", "storage", "handlers"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    for module in ("bot/orders/models.py", "bot/orders/service.py", "handlers/chat.py"):
        (tmp_path / module).write_text("")
    (tmp_path / path).write_text(source)
    found = violations(tmp_path)
    assert found and all(f.startswith(f"{path}:") for f in found), found
    assert any(f" — {rule}:" in f for f in found), found


def test_allowed_imports_pass(tmp_path: Path) -> None:
    files = {
        "storage/orders.py": "from bot.orders.models import Order\nfrom bot.knowledge import models\n",
        "bot/knowledge/models.py": "from pydantic import BaseModel\n",
        "bot/app.py": "from aiogram import Dispatcher\nfrom handlers import all_routers\n",
        "bot/telegram/session.py": "from aiogram import Bot\n",
        "handlers/chat.py": "from aiogram import Router\nfrom handlers.orders import keyboards\n"
                            "def create_router():\n    return Router(name=__name__)\n",
        "handlers/orders/keyboards.py": "",
        "tests/test_x.py": "from handlers.chat import create_router\nimport aiogram\n",
    }
    for rel, source in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(source)
    assert violations(tmp_path) == []
