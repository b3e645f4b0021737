"""Knows which updates are being handled, so shutdown can wait for them."""

from __future__ import annotations

import asyncio
import time


class InflightTracker:
    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_update_id: int | None = None

    @property
    def count(self) -> int:
        return self._count

    def enter(self, update_id: int | None) -> None:
        self._count += 1
        self._idle.clear()
        if update_id is not None and (self.last_update_id is None or update_id > self.last_update_id):
            self.last_update_id = update_id

    def leave(self) -> None:
        self._count -= 1
        if self._count <= 0:
            self._count = 0
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True if every handler finished within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return False
        return True
