"""Fixtures: the fake Telegram server, per-test settings, a private Redis."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.semantic import SentenceTransformerEmbedder
from bot.voice import WhisperTranscriber
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram
from tests.helpers import RedisServer, in_ci

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
    from tests.helpers import make_settings

    transcriber = WhisperTranscriber(make_settings(tmp_path_factory.mktemp("whisper")))
    transcriber.load()
    yield transcriber
    asyncio.run(transcriber.stop())


@pytest.fixture(scope="session")
def embedder() -> Iterator[SentenceTransformerEmbedder]:
    """The real embedding model (bundled all-MiniLM-L6-v2), loaded once for the whole session."""
    model = SentenceTransformerEmbedder()
    model.load()
    yield model
    asyncio.run(model.stop())
