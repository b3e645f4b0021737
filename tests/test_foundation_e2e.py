"""End to end: the real application against the fake Bot API server over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import aiohttp
import pytest

from testkit.fakes.telegram import FakeTelegram
from testkit.servers import free_port
from testkit.settings import ADMIN_ID, ADMIN_TOKEN, TEST_TOKEN, database_env, make_settings, subprocess_env
from tests.helpers import CUSTOMER_ID, poll_until, running_app, start_main


async def test_start_command_gets_a_welcome_reply(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)):
        telegram.send_text(CUSTOMER_ID, "/start", first_name="Ana")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
        assert "Hi, Ana" in reply.text
        assert "/help" in reply.text


async def test_help_lists_customer_commands_and_admin_commands_only_for_admins(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)):
        telegram.send_text(CUSTOMER_ID, "/help")
        telegram.send_text(ADMIN_ID, "/help")
        [customer] = await telegram.wait_for_messages(CUSTOMER_ID)
        [admin] = await telegram.wait_for_messages(ADMIN_ID)
    assert "/start" in customer.text and "/help" in customer.text
    assert "Admin" not in customer.text
    assert admin.text.startswith("Commands")


async def test_commands_are_registered_with_set_my_commands(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)):
        # Set beside the first updates, not before them (bot/telegram/supervisor.py): wait for the last scope.
        await telegram.wait_for(lambda: any(c.get("scope", {}).get("chat_id") == ADMIN_ID for c in telegram.commands),
                                timeout=30)
    default = [c for c in telegram.commands if c.get("scope", {}).get("type") == "default"]
    assert default, telegram.commands
    assert {"start", "help"} <= {c["command"] for c in default[0]["commands"]}
    admin_scopes = [c for c in telegram.commands if c.get("scope", {}).get("chat_id") == ADMIN_ID]
    assert admin_scopes


async def test_user_is_recorded_and_one_log_line_per_update(
    telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.updates")
    async with running_app(make_settings(tmp_path, telegram.url)) as app:
        telegram.send_text(CUSTOMER_ID, "/start", username="ana_c")
        await telegram.wait_for_messages(CUSTOMER_ID)
        await telegram.wait_for(lambda: app.services and app.services.inflight.count == 0)
        user = await app.services.users.get(CUSTOMER_ID)
    assert user is not None and user.username == "ana_c"
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.updates"]
    assert len(lines) == 1
    assert f"user={CUSTOMER_ID}" in lines[0] and "kind=command" in lines[0] and "latency_ms=" in lines[0]
    assert TEST_TOKEN not in caplog.text


async def test_health_and_readiness_probes(telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)) as app:
        base = f"http://127.0.0.1:{app.port}"
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
            assert (await r.json())["status"] == "ok"
        async with http.get(f"{base}/readyz") as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["checks"] == {"database": "ok", "bot": "ok", "telegram": "ok"}
        await app.db.close()  # the database going away makes the bot not ready
        async with http.get(f"{base}/readyz") as r:
            assert r.status == 503
            assert (await r.json())["checks"]["database"] == "error"
        await app.db.open()


async def test_updates_handled_before_a_restart_are_not_replayed(telegram: FakeTelegram, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, telegram.url)
    async with running_app(settings):
        telegram.send_text(CUSTOMER_ID, "/start")
        await telegram.wait_for_messages(CUSTOMER_ID)
    assert telegram.pending_updates() == []
    async with running_app(settings):
        telegram.send_text(CUSTOMER_ID, "/help")
        await telegram.wait_for_messages(CUSTOMER_ID, 2)
    assert len(telegram.sent_to(CUSTOMER_ID)) == 2


async def test_webhook_requires_the_secret_header_and_processes_updates(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(
        tmp_path, telegram.url, bot_mode="webhook", webhook_base_url="https://bot.example.com",
        webhook_secret="hook-secret_1",
    )
    update = {
        "update_id": 77,
        "message": {"message_id": 5, "date": 1700000000, "text": "/start",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                    "chat": {"id": CUSTOMER_ID, "type": "private"},
                    "from": {"id": CUSTOMER_ID, "is_bot": False, "first_name": "Web"}},
    }
    async with running_app(settings) as app:
        assert telegram.webhook["url"] == "https://bot.example.com/telegram/webhook"
        assert telegram.webhook["secret_token"] == "hook-secret_1"
        url = f"http://127.0.0.1:{app.port}/telegram/webhook"
        async with http.post(url, json=update) as r:
            assert r.status == 401
        async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
            assert r.status == 401
        assert telegram.sent_to(CUSTOMER_ID) == []
        async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret_1"}) as r:
            assert r.status == 200
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
        assert "Hi, Web" in reply.text


async def test_run_command_answers_start_then_exits_0_on_sigterm_after_finishing_the_handler(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    """`python main.py` against a Bot API server; SIGTERM arrives while a reply is in flight."""
    env = subprocess_env(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=telegram.url, **database_env(tmp_path),
        HTTP_HOST="127.0.0.1", HTTP_PORT="0",
    )
    proc = start_main([], env, tmp_path)
    try:
        await telegram.wait_for(lambda: telegram.calls("setMyCommands"), timeout=60)
        telegram.delays["sendmessage"] = 2.0  # the reply takes a while: the handler is in flight
        telegram.send_text(CUSTOMER_ID, "/start")
        await telegram.wait_for(lambda: telegram.calls("sendMessage"), timeout=30)
        assert telegram.sent_to(CUSTOMER_ID) == []  # still in flight
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        output = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, output
    assert len(telegram.sent_to(CUSTOMER_ID)) == 1  # the handler finished before exit
    assert TEST_TOKEN not in output


async def test_run_without_a_token_serves_the_side_server_and_says_telegram_is_bypassed(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The runbook's "Bypass Telegram notify: unset TELEGRAM_BOT_TOKEN" as an operator would do it."""
    port = free_port()
    env = subprocess_env(**database_env(tmp_path), HTTP_HOST="127.0.0.1", HTTP_PORT=str(port),
                         ADMIN_API_TOKEN=ADMIN_TOKEN, STAFF_CHAT_ID="-100123")
    proc = start_main(["run"], env, tmp_path)
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        try:
            async with http.get(f"{base}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientConnectionError:
            return False

    try:
        await poll_until(ready, timeout=60, interval=0.2)
        async with http.get(f"{base}/api/agent/chat") as r:
            chat = await r.json()
        async with http.post(f"{base}/api/telegram/notify", json={"text": "order #1"},
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
            notify = await r.json()
        async with http.post(f"{base}/api/agent/chat", json={"user_id": 5, "text": "wifi password?"},
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
            answer = await r.json()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        output = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, output
    assert chat["status"] == "degraded"
    assert any(r.startswith("Telegram bypassed (no TELEGRAM_BOT_TOKEN)") for r in chat["reasons"]), chat["reasons"]
    assert notify["status"] == "skipped"  # recorded, not sent
    assert "flatwhite2024" in answer["answer"]  # the agent runs (offline answers without OPENAI_API_KEY)
    assert "WARNING" in output and "Telegram bypassed (no TELEGRAM_BOT_TOKEN)" in output
