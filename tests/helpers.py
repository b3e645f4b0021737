"""Test-only helpers: running the real application in-process, polling, a manual clock, headers.

What the benchmarks share with the tests (fakes, settings, Redis, fixtures) is in `testkit`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import Application
from bot.config import Settings
from bot.services import Seams
from testkit import ROOT
from testkit.settings import ADMIN_TOKEN

READ_TOKEN = "test-read-token-9876543210"
KEY_PREFIX = Settings.model_fields["redis_key_prefix"].default  # what a raw Redis client sees before each key
CUSTOMER_ID = 1001


@asynccontextmanager
async def running_app(settings: Settings, seams: Seams | None = None) -> AsyncIterator[Application]:
    """The real application, started in this event loop, stopped afterwards."""
    app = Application(settings, seams)
    try:
        await app.start()
        yield app
    finally:
        await app.stop()


async def poll_until(predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Re-evaluate an async predicate until it is truthy (returns its value) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        await asyncio.sleep(interval)


class ManualClock:
    """A clock that moves only when the test says so (`clock.now += 30`): time-based logic without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def read_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {READ_TOKEN}"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def start_main(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )

