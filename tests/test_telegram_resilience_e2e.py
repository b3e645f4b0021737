"""Never deaf, never falsely ready: the real application against a fake Bot API that fails like a real one.

Each scenario measures the time from the Bot API's recovery to the customer's answer
(printed with `-s`); a customer's /start sent after recovery must be answered within 10 s,
and /readyz must be 503 while Telegram is out and 200 after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Application
from bot.config import Settings
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import free_port
from testkit.settings import TEST_TOKEN, make_settings
from tests.helpers import CUSTOMER_ID, poll_until, running_app

OUTAGE_SECONDS = 20.0  # the figure for an outage at start
SHORT_OUTAGE_SECONDS = 5.0  # mid-run outages: long enough to be seen, short enough for CI
ANSWER_WITHIN_SECONDS = 10.0
OTHER_CUSTOMER = 2002


async def probe(http: aiohttp.ClientSession, app: Application, path: str = "/readyz") -> tuple[int, Any]:
    async with http.get(f"http://127.0.0.1:{app.port}{path}") as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.text())


async def readiness_during(http: aiohttp.ClientSession, app: Application, until: Any,
                           every: float = 0.5) -> list[tuple[int, list[str]]]:
    """/readyz sampled until `until()` is true: what an orchestrator saw during the outage."""
    seen: list[tuple[int, list[str]]] = []
    while not until():
        status, body = await probe(http, app)
        seen.append((status, body["reasons"]))
        await asyncio.sleep(every)  # the sampling rate of a probe, not synchronisation
    return seen


async def answered_after_recovery(telegram: FakeTelegram, user_id: int, after: int = 0) -> float:
    """Send /start now (Telegram is back) and return the seconds from recovery to the answer."""
    assert telegram.recovered_at is not None
    telegram.send_text(user_id, "/start")
    [reply] = await telegram.wait_for_messages(user_id, after=after, timeout=ANSWER_WITHIN_SECONDS)
    assert "/help" in reply.text
    return time.monotonic() - telegram.recovered_at


async def until_ready(http: aiohttp.ClientSession, app: Application, timeout: float = 10.0) -> float:
    started = time.monotonic()

    async def ready() -> bool:
        return (await probe(http, app))[0] == 200

    await poll_until(ready, timeout=timeout, interval=0.1)
    return time.monotonic() - started


def webhook_settings(tmp_path: Path, telegram: FakeTelegram, port: int) -> Settings:
    """Webhook mode on `port`, checked every second (the webhook tests' common setup)."""
    return make_settings(
        tmp_path, telegram.url, bot_mode="webhook", http_port=port, webhook_base_url=f"http://127.0.0.1:{port}",
        webhook_secret="hook-secret_1", webhook_check_seconds=1.0,
    )


def report(name: str, **figures: float) -> None:
    print(f"\n[{name}] " + ", ".join(f"{k}={v:.2f}s" for k, v in figures.items()))


async def test_started_while_the_bot_api_does_not_listen_it_answers_once_the_api_comes_up(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """(a) Nothing listens at the Bot API address for the first 20 s (DNS not ready, a deploy's network)."""
    async with FakeTelegram(listening=False) as telegram, running_app(make_settings(tmp_path, telegram.url)) as app:
        telegram.after(OUTAGE_SECONDS, telegram.go_online)
        during = await readiness_during(http, app, lambda: telegram.listening)
        waited = await answered_after_recovery(telegram, CUSTOMER_ID)
        ready_after = await until_ready(http, app)
    assert len(during) >= OUTAGE_SECONDS  # sampled every 0.5 s for 20 s
    assert all(status == 503 for status, _ in during), during
    assert any("waiting for the first successful getUpdates" in r and "unreachable since" in r
               for _, reasons in during for r in reasons), during[-1]
    assert waited < ANSWER_WITHIN_SECONDS
    report("not listening 20 s at start", recovery_to_answer=waited, ready_after_answer=ready_after)


async def test_started_while_the_bot_api_answers_502_it_answers_once_the_api_recovers(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """(b) A proxy answers 502 Bad Gateway (an HTML page, not the Bot API's JSON) to getMe and getUpdates for 20 s."""
    async with FakeTelegram() as telegram:
        telegram.outage(502, ("getMe", "getUpdates"))
        async with running_app(make_settings(tmp_path, telegram.url)) as app:
            telegram.after(OUTAGE_SECONDS, telegram.end_outage)
            # The agent health check names the outage while it lasts (sampled during it: once Telegram is back,
            # the bot's next successful call clears the reason, however soon the backoff makes that call).
            chat = await poll_until(lambda: _chat_says(http, app, "Telegram unreachable since"),
                                    timeout=OUTAGE_SECONDS / 2)
            during = await readiness_during(http, app, lambda: telegram.recovered_at is not None)
            waited = await answered_after_recovery(telegram, CUSTOMER_ID)
            ready_after = await until_ready(http, app)
            _, chat_after = await probe(http, app, "/api/agent/chat")
    assert all(status == 503 for status, _ in during), during
    assert any("Telegram unreachable since" in r for r in chat["reasons"]), chat["reasons"]
    assert not any(r.startswith("Telegram") for r in chat_after["reasons"]), chat_after["reasons"]
    getme = len(telegram.calls("getMe"))
    assert 4 <= getme <= 15, getme  # backed off (1 s doubling to 5 s), never a tight loop
    assert waited < ANSWER_WITHIN_SECONDS
    report("502 for 20 s at start", recovery_to_answer=waited, ready_after_answer=ready_after)


@pytest.mark.parametrize("fault", ["not listening", "502"])
async def test_a_mid_run_outage_turns_readiness_off_and_polling_comes_back_by_itself(
    tmp_path: Path, http: aiohttp.ClientSession, fault: str
) -> None:
    async with FakeTelegram() as telegram:
        settings = make_settings(tmp_path, telegram.url, telegram_unreachable_seconds=1.0)
        async with running_app(settings) as app:
            assert (await probe(http, app))[0] == 200
            telegram.send_text(CUSTOMER_ID, "/start")
            await telegram.wait_for_messages(CUSTOMER_ID)
            if fault == "502":
                telegram.outage(502, ("getUpdates",))
                telegram.after(SHORT_OUTAGE_SECONDS, telegram.end_outage)
                recovered = lambda: telegram._outage is None  # noqa: E731
            else:
                await telegram.go_offline()
                telegram.after(SHORT_OUTAGE_SECONDS, telegram.go_online)
                recovered = lambda: telegram.listening  # noqa: E731
            started = time.monotonic()
            during = await readiness_during(http, app, recovered, every=0.25)
            _, metrics = await probe(http, app, "/metrics")
            waited = await answered_after_recovery(telegram, OTHER_CUSTOMER)
            ready_after = await until_ready(http, app)
    # Not ready once Telegram has been unreachable for longer than TELEGRAM_UNREACHABLE_SECONDS (1 s here).
    late = [(status, reasons) for status, reasons in during]
    assert any(status == 503 and any("Telegram unreachable since" in r for r in reasons) for status, reasons in late)
    assert during[-1][0] == 503, during[-1]
    assert time.monotonic() - started > SHORT_OUTAGE_SECONDS
    since = next(line for line in metrics.splitlines() if line.startswith("bot_telegram_seconds_since_last_success"))
    assert float(since.split()[-1]) >= 1.0
    assert waited < ANSWER_WITHIN_SECONDS
    report(f"mid-run {fault} for 5 s", recovery_to_answer=waited, ready_after_answer=ready_after)


async def test_webhook_deleted_behind_the_bots_back_is_set_again_and_the_waiting_updates_arrive(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """(c) Webhook mode: the webhook disappears (and Telegram refuses setWebhook for a while)."""
    port = free_port()
    async with FakeTelegram(deliver_webhook=True) as telegram:
        settings = webhook_settings(tmp_path, telegram, port)
        async with running_app(settings) as app:
            assert (await probe(http, app))[0] == 200
            assert telegram.webhook["url"] == f"http://127.0.0.1:{port}/telegram/webhook"
            telegram.send_text(CUSTOMER_ID, "/start")  # delivered by POST, like Telegram does
            await telegram.wait_for_messages(CUSTOMER_ID)

            telegram.delete_webhook_behind_back()
            telegram.outage(502, ("setWebhook",))
            telegram.send_text(OTHER_CUSTOMER, "/help")  # waits at Telegram while there is no webhook
            noticed = await poll_until(lambda: _not_ready(http, app), timeout=5, interval=0.1)
            _, link = await probe(http, app, "/api/telegram")
            _, metrics = await probe(http, app, "/metrics")
            telegram.after(SHORT_OUTAGE_SECONDS, telegram.end_outage)
            during = await readiness_during(http, app, lambda: telegram.recovered_at is not None, every=0.25)
            waited = await answered_after_recovery(telegram, CUSTOMER_ID, after=1)
            await telegram.wait_for_messages(OTHER_CUSTOMER, timeout=ANSWER_WITHIN_SECONDS)  # the one that waited
            ready_after = await until_ready(http, app)
            _, link_after = await probe(http, app, "/api/telegram")
    assert any("webhook" in r for r in noticed["reasons"]), noticed
    assert all(status == 503 for status, _ in during), during
    assert link["link"]["state"] in ("webhook-missing", "unreachable")  # unreachable once setWebhook gets 502s
    assert link["link"]["webhook"]["url"] == "" and link["link"]["webhook"]["pending_update_count"] >= 1
    assert "bot_telegram_webhook_pending_updates 1.0" in metrics
    assert link_after["link"]["webhook"]["url"] == telegram.webhook["url"] and link_after["link"]["state"] == "ok"
    assert link_after["link"]["webhook"]["resets"] == 1
    assert waited < ANSWER_WITHIN_SECONDS
    report("webhook deleted + setWebhook 502 for 5 s", recovery_to_answer=waited, ready_after_answer=ready_after)


async def _chat_says(http: aiohttp.ClientSession, app: Application, reason: str) -> Any:
    """The agent health check's body when one of its reasons contains `reason`, else None."""
    _, chat = await probe(http, app, "/api/agent/chat")
    return chat if any(reason in r for r in chat["reasons"]) else None


async def _not_ready(http: aiohttp.ClientSession, app: Application) -> Any:
    status, body = await probe(http, app)
    return body if status == 503 else None


async def test_a_webhook_replaced_by_another_url_is_put_back_and_telegrams_delivery_error_is_reported(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    port = free_port()
    async with FakeTelegram(deliver_webhook=True) as telegram:
        settings = webhook_settings(tmp_path, telegram, port)
        async with running_app(settings) as app:
            ours = telegram.webhook["url"]
            telegram.webhook = {**telegram.webhook, "url": f"http://127.0.0.1:{free_port()}/elsewhere"}
            telegram.send_text(CUSTOMER_ID, "/start")  # Telegram fails to deliver it to the other URL
            await telegram.wait_for(lambda: telegram.webhook_error is not None)
            [reply] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=ANSWER_WITHIN_SECONDS)
            await poll_until(lambda: _webhook_error_reported(http, app), timeout=5)
            _, link = await probe(http, app, "/api/telegram")
            _, metrics = await probe(http, app, "/metrics")
    assert telegram.webhook["url"] == ours
    assert "Hi" in reply.text
    assert link["link"]["webhook"]["last_error_message"].startswith("Connection failed")
    assert 'bot_telegram_webhook_last_error{message="Connection failed' in metrics


async def _webhook_error_reported(http: aiohttp.ClientSession, app: Application) -> bool:
    _, body = await probe(http, app, "/api/telegram")
    return bool(body["link"]["webhook"]["last_error_message"])


async def test_a_token_revoked_mid_run_is_reported_and_retried_slowly_then_polling_resumes(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with FakeTelegram() as telegram:
        settings = make_settings(tmp_path, telegram.url, telegram_unauthorized_retry_seconds=2.0)
        async with running_app(settings) as app:
            telegram.token = "123456:another-token"  # BotFather revoked ours
            await telegram.wait_for(lambda: telegram.unauthorized_calls, timeout=30)
            body = await poll_until(lambda: _not_ready(http, app), timeout=10, interval=0.1)
            _, chat = await probe(http, app, "/api/agent/chat")
            _, metrics = await probe(http, app, "/metrics")
            window_start = time.monotonic()
            await asyncio.sleep(5.0)  # a window to count the retries in, not synchronisation
            calls_in_window = [t for _, t in telegram.unauthorized_calls if t >= window_start]
            telegram.token = TEST_TOKEN  # the operator put the right token back (e.g. a proxy fixed)
            telegram.recovered_at = time.monotonic()
            waited = await answered_after_recovery(telegram, CUSTOMER_ID)
            await until_ready(http, app)
    assert any("rejects TELEGRAM_BOT_TOKEN" in r for r in body["reasons"]), body
    assert body["checks"]["telegram"] == "unauthorized"
    assert any("401 Unauthorized" in r for r in chat["reasons"]), chat["reasons"]
    assert "bot_telegram_unauthorized 1.0" in metrics
    assert 1 <= len(calls_in_window) <= 4, calls_in_window  # every 2 s, not a tight loop
    errors = [r for r in caplog.records if "rejected by the Bot API" in r.getMessage()]
    assert len(errors) == 1  # reported once, not once per attempt
    assert waited < 2.0 + ANSWER_WITHIN_SECONDS
    report("token revoked, restored", restored_to_answer=waited)


async def test_polling_that_ends_by_itself_is_started_again(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, running_app(make_settings(tmp_path, telegram.url)) as app:
        assert app.dp is not None and app.services is not None and app.services.telegram is not None
        await app.dp.stop_polling()  # as if aiogram's polling had returned on its own
        telegram.send_text(CUSTOMER_ID, "/start")
        await telegram.wait_for_messages(CUSTOMER_ID, timeout=ANSWER_WITHIN_SECONDS)
        assert app.services.telegram.polling_restarts == 1
