"""Shared test helpers: settings for a test run, running the real application, services."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import Application
from bot.config import Settings, load_settings
from bot.services import Seams

ROOT = Path(__file__).resolve().parent.parent
TEST_TOKEN = "123456:TEST-token_abc"
ADMIN_TOKEN = "test-admin-token-0123456789"
READ_TOKEN = "test-read-token-9876543210"
KEY_PREFIX = Settings.model_fields["redis_key_prefix"].default  # what a raw Redis client sees before each key
ADMIN_ID = 4242
CUSTOMER_ID = 1001


def make_settings(tmp_path: Path, telegram_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for one test: temp database, ephemeral side-server port, no .env influence."""
    base: dict[str, Any] = {
        "_env_file": None,
        "telegram_bot_token": TEST_TOKEN if telegram_url else None,
        "telegram_api_url": telegram_url or "https://api.telegram.org",
        "bot_mode": "polling" if telegram_url else "off",
        "database_path": tmp_path / "bot.db",
        "http_host": "127.0.0.1",
        "http_port": 0,
        "admin_api_token": ADMIN_TOKEN,
        "admin_ids": frozenset({ADMIN_ID}),
        "redis_url": "",
        "openai_api_key": None,
        "shutdown_timeout_seconds": 10.0,
        # Off unless a test turns it on with the session's shared model (Seams(embedder=...)):
        # a model load per application instance would cost seconds each.
        "semantic_cache_enabled": False,
    }
    base.update(overrides)
    return load_settings(**base)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running `python main.py` in a child process: only what we set."""
    ours = ("TELEGRAM_", "OPENAI_", "REDIS_", "ADMIN_", "READ_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update({"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    env["SEMANTIC_CACHE_ENABLED"] = "false"  # as in make_settings; a test turns it on explicitly
    env.update(extra)
    return env


def start_main(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


class RedisServer:
    """A private redis-server on a free port, so tests can kill and restart it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


def with_openai(fake: Any, **overrides: Any) -> dict[str, Any]:
    """Settings overrides that point the agent at a fake OpenAI server (fast timeouts and backoff)."""
    return {"openai_base_url": fake.url, "openai_api_key": fake.api_key, "openai_timeout": 2.0, **overrides}
