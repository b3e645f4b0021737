"""The runbook's Telegram checks: POST /api/telegram/notify, `notify-test`, `webhook-info`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.telegram.checks import send_test, webhook_report
from testkit import ROOT
from testkit.fakes.telegram import BOT_USER, FakeTelegram
from testkit.ordering import STAFF_CHAT
from testkit.settings import TEST_TOKEN, make_settings, subprocess_env
from tests.helpers import admin_headers, running_app, start_main
from tests.ordering import order_settings


async def test_notify_endpoint_sends_to_the_staff_group_through_the_outbox(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        url = f"http://127.0.0.1:{app.port}/api/telegram/notify"
        async with http.post(url, json={"text": "Fridge <2> is warm & beeping"}, headers=admin_headers()) as r:
            body = await r.json()
            status = r.status
        async with http.get(f"http://127.0.0.1:{app.port}/api/telegram") as r:
            overview = await r.json()
    assert status == 200, body
    assert body["status"] == "delivered" and isinstance(body["id"], int) and body["message_id"]
    assert telegram.texts_to(STAFF_CHAT) == ["Fridge <2> is warm & beeping"]  # escaped, shown as typed
    assert overview["enabled"] is True and overview["outbox"]["delivered"] == 1


async def test_notify_endpoint_reports_a_pending_notification_while_telegram_fails(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    telegram.fail("sendMessage", status=500, times=100, chat_id=STAFF_CHAT)
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        url = f"http://127.0.0.1:{app.port}/api/telegram/notify"
        async with http.post(url, json={"text": "hello", "wait": 0.5}, headers=admin_headers()) as r:
            body, status = await r.json(), r.status
    assert status == 202 and body["status"] == "pending" and "Internal Server Error" in body["error"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "JSON object"),
        (["text"], "JSON object"),
        ({}, "text: required"),
        ({"text": "   "}, "text: required"),
        ({"text": 42}, "text: required"),
        ({"text": "x" * 4097}, "at most 4096"),
        ({"text": "hi", "wait": -1}, "wait:"),
        ({"text": "hi", "wait": "soon"}, "wait:"),
        ({"text": "hi", "chat_id": 1}, "unknown field"),
    ],
)
async def test_notify_endpoint_rejects_bad_bodies(
    tmp_path: Path, http: aiohttp.ClientSession, payload: object, message: str
) -> None:
    async with running_app(order_settings(tmp_path, None)) as app:
        url = f"http://127.0.0.1:{app.port}/api/telegram/notify"
        data = payload if isinstance(payload, str) else json.dumps(payload)
        async with http.post(url, data=data, headers={**admin_headers(), "Content-Type": "application/json"}) as r:
            assert r.status == 400
            assert message in (await r.json())["error"]
        assert (await app.services.outbox.stats()).skipped == 0  # nothing was written


async def test_notify_endpoint_auth(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_app(order_settings(tmp_path, None)) as app:
        url = f"http://127.0.0.1:{app.port}/api/telegram/notify"
        async with http.post(url, json={"text": "hi"}) as r:
            assert r.status == 401
        async with http.post(url, json={"text": "hi"}, headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        async with http.post(url, json={"text": "hi"}, headers=admin_headers()) as r:
            body = await r.json()
            assert r.status == 200 and body["status"] == "skipped"  # Telegram off: the runbook's bypass
    async with running_app(order_settings(tmp_path, None, admin_api_token=None)) as app:
        url = f"http://127.0.0.1:{app.port}/api/telegram/notify"
        async with http.post(url, json={"text": "hi"}, headers=admin_headers()) as r:
            assert r.status == 403
    async with running_app(make_settings(tmp_path, None)) as app:  # no STAFF_CHAT_ID
        url = f"http://127.0.0.1:{app.port}/api/telegram/notify"
        async with http.post(url, json={"text": "hi"}, headers=admin_headers()) as r:
            assert r.status == 409 and "STAFF_CHAT_ID" in (await r.json())["error"]


def _env(telegram: FakeTelegram, tmp_path: Path, **extra: str) -> dict[str, str]:
    return subprocess_env(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=telegram.url, DATABASE_PATH=str(tmp_path / "bot.db"),
        STAFF_CHAT_ID=str(STAFF_CHAT), **extra,
    )


async def _finish(proc: object) -> tuple[int, str]:
    code = await asyncio.to_thread(proc.wait, 60)  # type: ignore[attr-defined]
    return code, proc.stdout.read()  # type: ignore[attr-defined]


async def test_notify_test_command_and_script_send_a_test_message(telegram: FakeTelegram, tmp_path: Path) -> None:
    command = start_main(["notify-test", "--text", "ping from CLI"], _env(telegram, tmp_path), tmp_path)
    script = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "scripts" / "test_telegram.py"), cwd=tmp_path,
        env={**_env(telegram, tmp_path), "DATABASE_PATH": str(tmp_path / "script.db")},  # two processes, two DBs
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    (code, output), (script_out, _) = await asyncio.gather(_finish(command), script.communicate())
    assert code == 0, output
    assert "delivered to the staff group" in output and TEST_TOKEN not in output
    assert script.returncode == 0, script_out
    texts = telegram.texts_to(STAFF_CHAT)
    assert len(texts) == 2 and "ping from CLI" in texts
    assert any(t.startswith("✅ Test message from the cafe bot") for t in texts)


async def test_notify_test_reports_a_permanent_failure(
    telegram: FakeTelegram, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram.fail("sendMessage", status=403, description="Forbidden: bot was kicked from the supergroup chat")
    code = await send_test(order_settings(tmp_path, telegram.url))
    assert code == 1
    assert "failed: TelegramForbiddenError: Forbidden: bot was kicked" in capsys.readouterr().out


async def test_webhook_info_runs_the_three_checks(telegram: FakeTelegram, tmp_path: Path) -> None:
    code, output = await _finish(start_main(["webhook-info"], _env(telegram, tmp_path), tmp_path))
    assert code == 0, output
    assert "getWebhookInfo:" in output and '"pending_update_count": 0' in output
    assert "OK   token" in output and "@cafe_test_bot" in output
    assert "OK   webhook" in output and "OK   staff group" in output and "administrator" in output



async def test_webhook_info_reports_a_stray_webhook_and_missing_admin_rights(
    telegram: FakeTelegram, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram.set_chat_member(STAFF_CHAT, BOT_USER["id"], "member")
    telegram.webhook = {"url": "https://old.example.com/hook"}
    code = await webhook_report(order_settings(tmp_path, telegram.url), as_json=True)
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["ok"] is False
    by_name = {c["name"]: c for c in result["checks"]}
    assert by_name["token"]["ok"] and not by_name["webhook"]["ok"] and not by_name["staff group"]["ok"]
    assert "make it an administrator" in by_name["staff group"]["detail"]


async def test_webhook_info_says_when_the_token_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeTelegram(token="999:other-token") as telegram:
        code = await webhook_report(order_settings(tmp_path, telegram.url))
    output = capsys.readouterr().out
    assert code == 1 and "FAIL token" in output and "Unauthorized" in output and TEST_TOKEN not in output
