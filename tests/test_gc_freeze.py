"""The start-up objects kept out of garbage collection (bot/app.py `freeze_start_up_objects`).

Only a process that is the application's alone (`main.py run`) freezes; an application started in a
test process (many applications, one after another) leaves the collector as it is.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import freeze_start_up_objects
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
