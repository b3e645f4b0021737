"""Settings for a run of the bot against the fakes: tokens, the admin, and the same as a child's environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from testkit.database import test_database_url

TEST_TOKEN = "123456:TEST-token_abc"
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN_ID = 4242


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
    postgres = test_database_url()  # a PostgreSQL run (testkit/database.py): this test's schema
    if postgres:
        base["database_url"] = postgres
    base.update(overrides)
    return load_settings(**base)


def database_env(tmp_path: Path) -> dict[str, str]:
    """A child process's database variables, the same database make_settings(tmp_path) gives this test."""
    env = {"DATABASE_PATH": str(tmp_path / "bot.db")}
    postgres = test_database_url()
    if postgres:
        env["DATABASE_URL"] = postgres
    return env


def with_openai(fake: Any, **overrides: Any) -> dict[str, Any]:
    """Settings overrides that point the agent at a fake OpenAI server (fast timeouts and backoff)."""
    return {"openai_base_url": fake.url, "openai_api_key": fake.api_key, "openai_timeout": 2.0, **overrides}


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running `python main.py` in a child process: only what we set."""
    ours = ("TELEGRAM_", "OPENAI_", "REDIS_", "ADMIN_", "READ_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update({"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    env["SEMANTIC_CACHE_ENABLED"] = "false"  # as in make_settings; a test turns it on explicitly
    env.update(extra)
    return env
