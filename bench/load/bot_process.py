"""The bot under test: `python main.py` in its own process, configured only by its environment.

Started like production (the same entry point, settings from environment variables, a
side server on 127.0.0.1), pointed at the harness's fake servers and private Redis. Its
output goes to a log file (a pipe nobody reads would block it once full). The harness
reads it through the side server (`/readyz`, `/api/cache`, `/metrics`) and samples the
process's resident memory from /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from testkit import ROOT
from testkit.ordering import STAFF_CHAT
from testkit.settings import ADMIN_TOKEN, TEST_TOKEN, subprocess_env

READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 60.0



def fake_backed_env(telegram_url: str, model_url: str, model_key: str, redis_url: str, workdir: Path,
                    **extra: str) -> dict[str, str]:
    """The settings of a bot run as production runs it, against the fakes (bench.startup, bench.rush):
    Redis, the semantic cache, INFO logs, and bytecode kept between launches as the image keeps it
    (a shell that sets PYTHONDONTWRITEBYTECODE would add recompiling the bot's code to every launch)."""
    return {
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN, "TELEGRAM_API_URL": telegram_url, "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": model_key, "REDIS_URL": redis_url, "DATABASE_PATH": str(workdir / "bot.db"),
        "ADMIN_API_TOKEN": ADMIN_TOKEN, "STAFF_CHAT_ID": str(STAFF_CHAT), "SEMANTIC_CACHE_ENABLED": "true",
        "LOG_LEVEL": "INFO", "PYTHONDONTWRITEBYTECODE": "", **extra,
    }

@dataclass
class Life:
    """One run of the process, from start to exit (a restart begins a new life)."""

    pid: int
    started: float
    ready_after_s: float | None = None
    stopped_after_s: float | None = None  # SIGTERM to exit
    exit_code: int | None = None
    scrapes: dict[str, Any] = field(default_factory=dict)  # the last /api/cache, /metrics seen


class BotProcess:
    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        self.workdir = workdir
        self.env = subprocess_env(**env, HTTP_HOST="127.0.0.1", HTTP_PORT=str(port))
        self.port = port
        self.log_path = workdir / "bot.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives: list[Life] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def life(self) -> Life:
        return self.lives[-1]

    def start(self) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=self.workdir, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.lives.append(Life(self.proc.pid, time.monotonic()))

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = READY_TIMEOUT_SECONDS) -> float:
        """Until /readyz is 200 and the models are loaded (Whisper, and the embedder if the semantic cache is on).

        Customers arriving earlier would measure the model loads, not the bot.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited during start (code {self.proc and self.proc.returncode}); "
                                   f"see {self.log_path}")
            if await self._ok(http, "/readyz") and await self._models_loaded(http):
                self.life.ready_after_s = round(time.monotonic() - self.life.started, 2)
                return self.life.ready_after_s
            await asyncio.sleep(0.25)
        raise RuntimeError(f"the bot was not ready after {timeout:.0f}s; see {self.log_path}")

    async def _models_loaded(self, http: aiohttp.ClientSession) -> bool:
        whisper = await self.get_json(http, "/api/agent/whisper") or {}
        stats = (await self.get_json(http, "/api/cache") or {}).get("stats") or {}
        semantic = stats.get("semantic")
        return bool(whisper.get("loaded")) and (not isinstance(semantic, dict) or bool(semantic.get("ready")))

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM and wait: the bot finishes in-flight work and exits on its own (killed after `timeout`)."""
        if self.proc is None:
            return None
        proc, life = self.proc, self.life
        sent = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        deadline = sent + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        life.stopped_after_s = round(time.monotonic() - sent, 2)
        life.exit_code = proc.returncode
        self.proc = None
        return proc.returncode

    def kill(self) -> None:
        """Last resort when the harness itself fails: never leave a bot running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def rss_mb(self) -> float | None:
        """Resident memory of the bot process (MiB), from /proc; None when it is not running."""
        if self.proc is None:
            return None
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the bot process so far."""
        if self.proc is None:
            return None
        try:
            with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    async def _ok(self, http: aiohttp.ClientSession, path: str) -> bool:
        try:
            async with http.get(self.base_url + path, timeout=aiohttp.ClientTimeout(total=2)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def get_json(self, http: aiohttp.ClientSession, path: str) -> dict[str, Any] | None:
        try:
            async with http.get(self.base_url + path, timeout=aiohttp.ClientTimeout(total=5)) as response:
                return await response.json() if response.content_type == "application/json" else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def get_text(self, http: aiohttp.ClientSession, path: str) -> str | None:
        try:
            async with http.get(self.base_url + path, timeout=aiohttp.ClientTimeout(total=5)) as response:
                return await response.text() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None
