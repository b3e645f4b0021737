"""The start-up objects kept out of garbage collection (bot/app.py `freeze_start_up_objects`).

Only a process that is the application's alone (`main.py run`) freezes; an application started in a
test process (many applications, one after another) leaves the collector as it is.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Application, freeze_start_up_objects
from tests.helpers import running_app
from tests.ordering import order_settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezing_moves_the_live_objects_out_of_every_collection(unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    freeze_start_up_objects()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the modules, classes and functions loaded so far
    made_later = [[] for _ in range(100)]
    assert gc.get_freeze_count() == frozen and len(made_later) == 100  # later objects are collected as before


async def test_an_application_in_a_shared_process_does_not_freeze(unfrozen: None, tmp_path: Path) -> None:
    async with running_app(order_settings(tmp_path, None)) as app:
        assert app.owns_process is False
        assert app._after_start is not None
        await asyncio.wait_for(app._after_start, 30)  # where a process of its own would freeze
        assert gc.get_freeze_count() == 0


async def test_the_application_that_owns_its_process_freezes_after_its_start(unfrozen: None, tmp_path: Path) -> None:
    """`main.py run` runs `run_until_stopped`: that path freezes once the after-start work is done."""
    app = Application(order_settings(tmp_path, None))
    running = asyncio.create_task(app.run_until_stopped())
    deadline = time.monotonic() + 30
    while (app._after_start is None or not app._after_start.done()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # polling the start's own task, with a deadline
    try:
        assert app.owns_process is True
        assert app._after_start is not None and app._after_start.done()
        assert gc.get_freeze_count() > 10_000
    finally:
        app.request_stop()
        await asyncio.wait_for(running, 30)
