"""Fixtures: the fake Telegram server, per-test settings, a private Redis, the calendar clock."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.clock import FrozenClock
from bot.semantic import Ct2Embedder
from bot.voice import WhisperTranscriber
from testkit.database import SCHEMA_URL, TEST_DATABASE_URL, postgres_schema
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer
from tests.helpers import in_ci

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _postgres_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """With TEST_DATABASE_URL set, a fresh PostgreSQL schema for this test (make_settings uses it)."""
    base = os.environ.get(TEST_DATABASE_URL)
    if not base:
        yield
        return
    with postgres_schema(base) as url:
        monkeypatch.setenv(SCHEMA_URL, url)
        yield


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def redis_installed() -> None:
    """redis-server is on the PATH. In CI a missing Redis fails the test, never skips it."""
    if shutil.which("redis-server") is None:
        if in_ci():
            pytest.fail("redis-server is required in CI")
        pytest.skip("redis-server not installed")


@pytest.fixture
def redis_server(redis_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server for this test."""
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WhisperTranscriber]:
    """The real Whisper model (bundled tiny.en), loaded once for the whole session from default settings."""
    from testkit.settings import make_settings

    transcriber = WhisperTranscriber(make_settings(tmp_path_factory.mktemp("whisper")))
    transcriber.load()
    yield transcriber
    asyncio.run(transcriber.stop())


@pytest.fixture(scope="session")
def embedder() -> Iterator[Ct2Embedder]:
    """The real embedding model (bundled all-MiniLM-L6-v2), loaded once for the whole session."""
    model = Ct2Embedder()
    model.load()
    yield model
    asyncio.run(model.stop())


# --- the calendar clock ---------------------------------------------------------------------------
# A test that depends on the date, weekday or hour asks for `wall_clock`: the application's calendar
# "now" is then frozen for that test (CLOCK_FROZEN_AT, read by every Settings and inherited by child
# processes), by default at the moment the test starts. `--clock 2026-06-07T23:59:30+02:00@Pacific/Kiritimati`
# (repeatable; or TEST_CLOCKS="iso[@tz],...") runs those tests once per given instant, with the process
# time zone (TZ) set as given: CI runs them on a Sunday night, at midnight and across a DST change.
# `-m clock` selects them.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock", action="append", default=[], metavar="ISO[@TZ]",
        help="run the time-dependent tests (fixture wall_clock, marker clock) with the calendar clock frozen at "
             "this instant and the process time zone TZ; repeat for several",
    )


def _clock_cases(config: pytest.Config) -> list[str | None]:
    given = list(config.getoption("--clock")) or [
        c.strip() for c in os.environ.get("TEST_CLOCKS", "").split(",") if c.strip()]
    return given or [None]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wall_clock" in metafunc.fixturenames:
        cases = _clock_cases(metafunc.config)
        metafunc.parametrize("wall_clock", cases, indirect=True,
                             ids=[c or "now" for c in cases])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "wall_clock" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.clock)


@pytest.fixture
def wall_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FrozenClock]:
    """The frozen calendar clock of this test (see above); the app, its settings and child processes share it."""
    case: str | None = request.param
    instant, _, zone = (case or "").partition("@")
    at = datetime.fromisoformat(instant) if instant else datetime.now(UTC).replace(microsecond=0)
    if at.utcoffset() is None:
        raise pytest.UsageError(f"--clock {case}: the instant needs a UTC offset")
    monkeypatch.setenv("CLOCK_FROZEN_AT", at.isoformat())
    old_tz = os.environ.get("TZ")
    if zone:
        os.environ["TZ"] = zone
        time.tzset()
    try:
        yield FrozenClock(at)
    finally:
        if zone:
            if old_tz is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old_tz
            time.tzset()
