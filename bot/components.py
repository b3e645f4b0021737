"""What the composition root starts and stops: anything with a lifetime."""

from __future__ import annotations

from typing import Protocol


class Component(Protocol):
    """Started after the database opens, in the order the composition root lists; stopped in reverse."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
