"""Waiting for a fake server's state with a deadline instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def wait_until(changed: asyncio.Condition, predicate: Callable[[], Any], timeout: float) -> Any:
    """Re-check `predicate` whenever `changed` is notified; its first truthy value, or AssertionError."""
    deadline = time.monotonic() + timeout
    async with changed:
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass
