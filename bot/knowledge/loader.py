"""Loading menu.yaml and cafe.yaml with errors an operator can act on.

A bad file must say which file, which line and which field: YAML syntax errors carry
their position, and validation errors are mapped back to the YAML node they came from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bot.knowledge.models import CafeInfo, Menu

Model = TypeVar("Model", bound=BaseModel)


class DataFileError(Exception):
    """A data file could not be used; the message names file, line and field."""

    def __init__(self, path: Path, message: str, line: int | None = None, field: str | None = None) -> None:
        self.path, self.line, self.field = path, line, field
        where = f"{path}" + (f" line {line}" if line else "")
        what = f"{field}: " if field else ""
        super().__init__(f"{where}: {what}{message}")


def content_hash(data: Any) -> str:
    """A stable short hash of the parsed content (formatting and comments do not change it)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _node_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    node, line = root, None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_YAML_KEYS = {"price_cents": "price", "min_choices": "min", "max_choices": "max"}


def _subject(data: Any, loc: tuple[int | str, ...]) -> str:
    """For an error inside an item's options: "item 'latte', group 'milk': " (unless the message names them).

    The field path gives positions (items[4].options[0]); the operator thinks in ids.
    """
    if "options" not in loc:
        return ""
    node, names = data, []
    for depth, key in enumerate(loc):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(key, int) and isinstance(node, dict) and isinstance(node.get("id"), str) and depth >= 3:
            kind = "group" if loc[depth - 1] == "options" else "item" if loc[depth - 1] == "items" else ""
            if kind:
                names.append(f"{kind} {node['id']!r}")
    return ", ".join(names) + ": " if names else ""


def load_yaml_model(path: Path, model: type[Model]) -> tuple[Model, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, f"cannot read file ({exc.strerror or exc})") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DataFileError(path, f"invalid YAML: {exc.problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise DataFileError(path, f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DataFileError(path, "expected a mapping at the top level", line=1)
    # YAML reads 2026-12-24 as a date; as text it hashes, snapshots (JSON) and validates the same way.
    data = json.loads(json.dumps(data, default=str))
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal_"))))
        # Pydantic reports the alias-resolved name; the YAML keys are "price", "min" and "max".
        loc = tuple(_YAML_KEYS.get(p, p) if isinstance(p, str) else p for p in loc)
        message = _subject(data, loc) + str(first["msg"]).removeprefix("Value error, ")
        raise DataFileError(path, message, line=_node_line(root, loc), field=_field_path(loc) or None) from None


def load_menu(path: Path) -> tuple[Menu, dict[str, Any]]:
    """The validated menu (version = content hash) and the raw content it came from."""
    menu, raw = load_yaml_model(path, Menu)
    return menu.model_copy(update={"version": content_hash(raw)}), raw


def load_cafe(path: Path) -> tuple[CafeInfo, dict[str, Any]]:
    cafe, raw = load_yaml_model(path, CafeInfo)
    return cafe.model_copy(update={"version": content_hash(raw)}), raw
