"""The Telegram link's parts on their own: backoff, one supervised step, and what the health state concludes.

Deterministic: the jitter's random source, the sleep and the clock are injected.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiogram import Dispatcher
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import GetMe, GetUpdates, SendMessage

from bot.telegram.health import TelegramHealth
from bot.telegram.session import create_bot
from bot.telegram.supervisor import Backoff, TelegramSupervisor, Unauthorized
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings
from tests.helpers import ManualClock, poll_until


def test_backoff_doubles_from_one_second_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    low, high = Backoff(5.0, rand=lambda: 0.0), Backoff(5.0, rand=lambda: 1.0)
    assert [low.next() for _ in range(6)] == [0.5, 1.0, 2.0, 2.5, 2.5, 2.5]
    assert [high.next() for _ in range(6)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    high.reset()
    assert high.next() == 1.0
    assert Backoff(0.2, rand=lambda: 1.0).next() == 0.2  # a cap under a second is respected too


async def test_a_step_is_retried_through_5xx_and_network_errors_and_waits_a_429s_retry_after(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, telegram.url, telegram_retry_max_seconds=4.0)
    health = TelegramHealth(settings)
    bot = create_bot(settings, health=health)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    supervisor = TelegramSupervisor(bot, Dispatcher(), settings, health, sleep=sleep, rand=lambda: 1.0)
    telegram.fail("getMe", status=502, times=3)
    telegram.fail("getMe", status=500, times=2)
    telegram.fail("getMe", status=429, retry_after=45)  # longer than replies wait for: the step waits it out
    try:
        me = await supervisor.retry("getMe", bot.get_me)
        assert me.username == "cafe_test_bot"
        assert slept == [1.0, 2.0, 4.0, 4.0, 4.0, 45.0]
        assert health.failures["server"] == 5 and health.state == "connecting"  # reachable, no getUpdates yet

        telegram.fail("getMe", status=401)
        with pytest.raises(Unauthorized):
            await supervisor.retry("getMe", bot.get_me)
        assert health.state == "unauthorized" and len(slept) == 6  # a 401 is not retried here, but slowly
    finally:
        await bot.session.close()


def health(tmp_path: Path, clock: ManualClock, **overrides: object) -> TelegramHealth:
    return TelegramHealth(make_settings(tmp_path, "http://127.0.0.1:9", **overrides), clock=clock)


def network_error() -> TelegramNetworkError:
    return TelegramNetworkError(GetUpdates(), "ClientConnectorError: Cannot connect to host")


def test_not_ready_until_updates_flow_then_only_after_the_unreachable_threshold(tmp_path: Path) -> None:
    clock = ManualClock(1_000_000.0)
    link = health(tmp_path, clock, telegram_unreachable_seconds=60)
    assert link.state == "connecting"
    assert link.readiness() == ["Telegram: waiting for the first successful getUpdates"]

    link.record_failure(GetUpdates(), network_error())
    assert link.state == "unreachable"
    assert "unreachable since" in link.readiness()[0]

    link.record_ok(GetUpdates())
    link.record_updates_flowing()
    assert link.state == "ok" and link.readiness() == [] and link.reasons() == []

    clock.now += 100
    link.record_failure(SendMessage(chat_id=1, text="x"), network_error())
    clock.now += 59
    assert link.state == "unreachable" and link.readiness() == []  # a blip does not take the bot out
    assert link.reasons()[0].startswith("Telegram unreachable since")
    clock.now += 2
    [reason] = link.readiness()
    assert reason.startswith("Telegram unreachable since") and "(61 s)" in reason
    assert link.seconds_since_ok() == 161

    link.record_failure(SendMessage(chat_id=1, text="x"),
                        TelegramBadRequest(SendMessage(chat_id=1, text="x"), "chat not found"))
    assert link.state == "ok" and link.readiness() == []  # Telegram answered: it is reachable
    link.record_failure(GetMe(), TelegramRetryAfter(GetMe(), "flood", 3))
    assert link.state == "ok"


def test_a_proxy_page_instead_of_json_counts_as_unreachable(tmp_path: Path) -> None:
    from aiogram.exceptions import ClientDecodeError

    link = health(tmp_path, ManualClock())
    link.record_failure(GetUpdates(), ClientDecodeError("Failed to decode object", ValueError(), "<html>502"))
    assert link.state == "unreachable" and link.failures["server"] == 1
    assert "ClientDecodeError" in (link.last_error or "")


def test_the_token_never_appears_in_an_error_it_records(tmp_path: Path) -> None:
    link = health(tmp_path, ManualClock())
    link.record_failure(GetMe(), TelegramNetworkError(GetMe(), "InvalidURL: http://x/bot123456:TEST-token_abc/getMe"))
    assert "TEST-token_abc" not in str(link.snapshot()) and "***" in (link.last_error or "")


def test_webhook_missing_or_different_is_not_ready_until_set_again(tmp_path: Path) -> None:
    link = health(tmp_path, ManualClock(), bot_mode="webhook", webhook_base_url="https://bot.example",
                  webhook_secret="s3cret")
    expected = "https://bot.example/telegram/webhook"
    assert link.readiness() == ["Telegram: waiting for setWebhook to succeed"]
    link.record_webhook_set(expected)
    assert link.state == "ok" and link.readiness() == []
    assert link.record_webhook_info(expected, 0, None, None) is True
    assert link.record_webhook_info("", 3, "Connection refused", 1_700_000_000.0) is False
    assert link.state == "webhook-missing" and link.webhook is not None and link.webhook.resets == 1
    assert "expected https://bot.example/telegram/webhook" in link.readiness()[0]
    assert link.snapshot()["webhook"]["pending_update_count"] == 3
    assert link.snapshot()["webhook"]["last_error_message"] == "Connection refused"
    link.record_webhook_set(expected)
    assert link.state == "ok" and link.readiness() == []


@pytest.mark.parametrize(("overrides", "why"), [
    ({"telegram_bot_token": None}, "no TELEGRAM_BOT_TOKEN"),
    ({"bot_mode": "off"}, "BOT_MODE=off"),
])
def test_bypassed_telegram_is_ready_but_said_plainly(tmp_path: Path, overrides: dict[str, object], why: str) -> None:
    link = health(tmp_path, ManualClock(), **overrides)
    assert link.state == "bypassed" and link.readiness() == []
    assert link.reasons() == [f"Telegram bypassed ({why}): nothing is received from Telegram and staff "
                              "notifications are recorded as skipped"]


async def test_a_refused_setwebhook_is_retried_and_its_error_shown_while_not_ready(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, telegram.url, bot_mode="webhook", webhook_base_url="https://bot.example",
                             webhook_secret="s3cret")
    link = TelegramHealth(settings)
    bot = create_bot(settings, health=link)
    slept: list[float] = []
    go_on = asyncio.Event()

    async def sleep(seconds: float) -> None:  # the supervisor waits here until the test has looked
        slept.append(seconds)
        await go_on.wait()

    supervisor = TelegramSupervisor(bot, Dispatcher(), settings, link, webhook_url="https://bot.example/telegram/webhook",
                                    sleep=sleep, rand=lambda: 0.0)
    telegram.fail("setWebhook", status=400, description="Bad Request: bad webhook: Failed to resolve host", times=2)
    try:
        assert link.readiness() == ["Telegram: waiting for setWebhook to succeed"]
        task = asyncio.create_task(supervisor._set_webhook())
        await poll_until(lambda: _true(slept), timeout=5, interval=0.01)
        [reason] = link.readiness()
        assert reason.endswith("last error: SetWebhook: Bad Request: bad webhook: Failed to resolve host"), reason
        go_on.set()
        await task
        assert slept == [0.5, 1.0] and link.readiness() == [] and link.state == "ok"
        assert telegram.webhook["url"] == "https://bot.example/telegram/webhook"
    finally:
        await bot.session.close()


async def _true(value: object) -> bool:
    return bool(value)
