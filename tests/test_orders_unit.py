"""Unit tests: the status machine, pickup times, error verdicts, rate limits, callback data."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage

from bot.knowledge.loader import load_cafe
from bot.orders.models import TRANSITIONS, OrderError, OrderStatus, can_transition
from bot.orders.pickup import parse_time, suggested_times, validate_pickup
from bot.outbox.errors import Verdict
from bot.outbox.ratelimit import ChatRateLimiter
from bot.telegram.gateway import classify
from handlers.orders.callbacks import AddCb, CheckoutCb, StaffCb, is_ordering_button
from testkit import ROOT

CAFE, _ = load_cafe(ROOT / "data" / "cafe.yaml")  # Mon-Wed 07:30-18:00, kitchen closes 30 min before
BERLIN = ZoneInfo("Europe/Berlin")


def at(hhmm: str, day: str = "2025-06-02") -> datetime:  # 2025-06-02 is a Monday
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=BERLIN)


def test_the_status_machine_is_the_documented_one() -> None:
    s = OrderStatus
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        (s.NEW, s.ACCEPTED), (s.ACCEPTED, s.PREPARING), (s.PREPARING, s.READY), (s.READY, s.COMPLETED),
        (s.NEW, s.CANCELLED), (s.ACCEPTED, s.CANCELLED), (s.PREPARING, s.CANCELLED),
    }
    assert not can_transition(s.READY, s.CANCELLED) and not can_transition(s.COMPLETED, s.NEW)


@pytest.mark.parametrize(("text", "minutes"), [
    ("12:30", 750), ("12.30", 750), ("1230", 750), ("9", 540), ("1:15 pm", 795), ("at 9am", 540),
    ("12am", 0), ("24:00", None), ("13pm", None), ("noonish", None), ("12:60", None),
])
def test_parse_time(text: str, minutes: int | None) -> None:
    assert parse_time(text) == minutes


def test_pickup_times_follow_opening_hours_and_lead_time() -> None:
    assert validate_pickup("asap", CAFE, at("10:00")) == "asap"
    assert validate_pickup("12:30", CAFE, at("10:00")) == "12:30"
    with pytest.raises(OrderError, match="earliest pickup is 10:10"):
        validate_pickup("10:05", CAFE, at("10:00"))
    with pytest.raises(OrderError, match=r"last orders today \(17:30\)"):
        validate_pickup("17:45", CAFE, at("10:00"))
    with pytest.raises(OrderError, match="We open at 07:30"):
        validate_pickup("asap", CAFE, at("06:00"))
    assert validate_pickup("08:00", CAFE, at("06:00")) == "08:00"
    with pytest.raises(OrderError, match="kitchen has closed"):
        validate_pickup("asap", CAFE, at("17:40"))
    with pytest.raises(OrderError, match="send a time like 12:30"):
        validate_pickup("whenever", CAFE, at("10:00"))
    assert suggested_times(CAFE, at("10:02")) == ["10:15", "10:30", "10:45"]
    assert suggested_times(CAFE, at("17:10")) == ["17:30"]


@pytest.mark.parametrize(("exc", "verdict"), [
    (TelegramRetryAfter(SendMessage(chat_id=1, text="x"), "Too Many Requests", 7), Verdict.WAIT),
    (TelegramServerError(SendMessage(chat_id=1, text="x"), "Bad Gateway"), Verdict.RETRY),
    (TelegramNetworkError(SendMessage(chat_id=1, text="x"), "timeout"), Verdict.RETRY),
    (TimeoutError(), Verdict.RETRY),
    (TelegramUnauthorizedError(SendMessage(chat_id=1, text="x"), "Unauthorized"), Verdict.RETRY),
    (TelegramBadRequest(SendMessage(chat_id=1, text="x"), "Bad Request: chat not found"), Verdict.FAILED),
    (TelegramBadRequest(SendMessage(chat_id=1, text="x"), "Bad Request: can't parse entities"), Verdict.FAILED),
    (TelegramForbiddenError(SendMessage(chat_id=1, text="x"), "Forbidden: bot was blocked by the user"),
     Verdict.FAILED),
    (TelegramMigrateToChat(SendMessage(chat_id=1, text="x"), "migrated", -100123), Verdict.FAILED),
    (TelegramBadRequest(SendMessage(chat_id=1, text="x"), "Bad Request: message is not modified"),
     Verdict.DELIVERED),
    (TelegramBadRequest(SendMessage(chat_id=1, text="x"), "Bad Request: message to edit not found"),
     Verdict.RESEND),
])
def test_errors_are_permanent_only_when_no_retry_can_help(exc: BaseException, verdict: Verdict) -> None:
    outcome = classify(exc)
    assert outcome.verdict is verdict
    if verdict is Verdict.WAIT:
        assert outcome.delay == 7


def test_rate_limiter_keeps_groups_under_20_a_minute_and_honours_pauses() -> None:
    clock = [1000.0]
    limiter = ChatRateLimiter(clock=lambda: clock[0])
    group, private = -100, 42
    for _ in range(20):
        assert limiter.delay(group) == 0
        limiter.record(group)
    assert limiter.delay(group) == pytest.approx(60.0)
    assert limiter.delay(private) == 0  # other chats are not held up
    clock[0] += 30
    assert limiter.delay(group) == pytest.approx(30.0)
    clock[0] += 30
    assert limiter.delay(group) == 0
    limiter.pause(private, 5)
    assert limiter.delay(private) == pytest.approx(5.0)


def test_callback_data_rejects_what_no_button_carries() -> None:
    assert AddCb.unpack(AddCb(item="espresso", qty=3).pack()).qty == 3
    for forged in ("oa:espresso::0", "oa:espresso::21", "oa:Robert');DROP::1", "ok:confirm:short:", "os:0:new:0",
                   "os:5:teleported:0"):
        cls = {"oa": AddCb, "ok": CheckoutCb, "os": StaffCb}[forged[:2]]
        with pytest.raises((TypeError, ValueError)):
            cls.unpack(forged)
    assert is_ordering_button("oc:view:0") and not is_ordering_button("cache:warm") and not is_ordering_button(None)
