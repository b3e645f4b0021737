"""Tools the model may call, registered by features (the orders feature adds its own).

A tool is a name, a description, a JSON schema for its arguments and an async handler
`(user_id, args) -> dict | str`. The agent runs the calls the model asks for and feeds
the results back, for a bounded number of rounds. A turn that called any tool is
personal: its answer is never cached or shared with other users.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ToolHandler = Callable[[int, dict[str, Any]], Awaitable[dict[str, Any] | str]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    schema: dict[str, Any]
    handler: ToolHandler

    def spec(self) -> dict[str, Any]:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.schema}}


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, name: str, description: str, json_schema: dict[str, Any], handler: ToolHandler) -> None:
        if name in self._tools:
            raise ValueError(f"tool {name!r} is already registered")
        if json_schema.get("type") != "object":
            raise ValueError(f"tool {name!r}: the schema must describe an object")
        self._tools[name] = Tool(name, description, json_schema, handler)

    def __bool__(self) -> bool:
        return bool(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self._tools.values()]

    async def call(self, name: str, user_id: int, arguments: str) -> str:
        """Run one call; the result (or a description of what went wrong) as text for the model."""
        tool = self._tools.get(name)
        if tool is None:
            return json.dumps({"error": f"unknown tool {name!r}"})
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            return json.dumps({"error": "arguments were not valid JSON"})
        if not isinstance(args, dict):
            return json.dumps({"error": "arguments must be a JSON object"})
        try:
            result = await tool.handler(user_id, args)
        except Exception as exc:
            log.exception("tool %s failed", name)
            return json.dumps({"error": f"the tool failed ({type(exc).__name__}); tell the customer to try again"})
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
