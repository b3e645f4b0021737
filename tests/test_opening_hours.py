"""Opening hours, pickup times and the order day on every weekday and around midnight, on an injected clock.

The expectations are written out from the shipped data/cafe.yaml (Europe/Berlin), not recomputed
with the code under test. Nothing here reads the machine's date, weekday, hour or time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.agent.offline import OfflineAnswerer
from bot.clock import FrozenClock
from bot.config import DATA_DIR
from bot.knowledge.loader import load_cafe, load_menu
from bot.orders import OrderError
from bot.orders.pickup import ASAP, is_open_now, suggested_times, today_window, validate_pickup
from testkit.fakes.openai import FakeOpenAI
from testkit.ordering import always_open_cafe
from testkit.settings import make_settings, with_openai
from tests.helpers import admin_headers, running_app

MENU, _ = load_menu(DATA_DIR / "menu.yaml")
CAFE, _ = load_cafe(DATA_DIR / "cafe.yaml")
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 6, 1, tzinfo=BERLIN).date()  # 2026-06-01 is a Monday
# weekday -> (name, opens, closes, last orders = closes - 30 min), as in data/cafe.yaml
WEEK = [
    ("monday", "07:30", "18:00", "17:30"), ("tuesday", "07:30", "18:00", "17:30"),
    ("wednesday", "07:30", "18:00", "17:30"), ("thursday", "07:30", "20:00", "19:30"),
    ("friday", "07:30", "20:00", "19:30"), ("saturday", "09:00", "20:00", "19:30"),
    ("sunday", "09:00", "16:00", "15:30"),
]


def local(day: int, hhmm: str) -> datetime:
    """The instant at `hhmm` cafe time on the given weekday of the test week (0 = Monday)."""
    hours, minutes = map(int, hhmm.split(":"))
    date = MONDAY + timedelta(days=day)
    return datetime(date.year, date.month, date.day, hours, minutes, tzinfo=BERLIN)


def minus(hhmm: str, minutes: int) -> str:
    moment = datetime.strptime(hhmm, "%H:%M") - timedelta(minutes=minutes)
    return moment.strftime("%H:%M")


def open_now(now: datetime) -> str:
    return OfflineAnswerer(lambda: MENU, lambda: CAFE).answer("are you open now?", now=now) or ""


@pytest.mark.parametrize("day", range(7), ids=[w[0] for w in WEEK])
def test_each_weekday_from_midnight_to_midnight(day: int) -> None:
    name, opens, closes, last = WEEK[day]
    tomorrow_opens = WEEK[(day + 1) % 7][1]
    assert today_window(CAFE, local(day, "12:00")) is not None

    for hhmm in ("00:00", minus(opens, 1)):  # before opening
        now = local(day, hhmm)
        assert not is_open_now(CAFE, now), (name, hhmm)
        assert f"we open today at {opens}" in open_now(now)
        with pytest.raises(OrderError, match=f"We open at {opens}"):
            validate_pickup("asap", CAFE, now)
        assert validate_pickup(last, CAFE, now) == last  # a time later today is fine
    assert suggested_times(CAFE, local(day, "00:00"))[0] == opens

    for hhmm in (opens, minus(last, 1)):  # open, kitchen taking orders
        now = local(day, hhmm)
        assert is_open_now(CAFE, now), (name, hhmm)
        assert f"open right now, until {closes}" in open_now(now)
        assert validate_pickup("asap", CAFE, now) == ASAP

    now = local(day, last)  # the kitchen's last orders: still open, no more pickups
    assert not is_open_now(CAFE, now) and suggested_times(CAFE, now) == []
    assert f"open right now, until {closes}" in open_now(now)
    with pytest.raises(OrderError, match=f"kitchen has closed for today \\(last orders {last}\\)"):
        validate_pickup("asap", CAFE, now)

    for hhmm in (closes, "23:59"):  # closed until tomorrow
        now = local(day, hhmm)
        assert not is_open_now(CAFE, now)
        assert f"we open again tomorrow at {tomorrow_opens}" in open_now(now)
        with pytest.raises(OrderError, match="kitchen has closed"):
            validate_pickup("12:00", CAFE, now)


def test_a_typed_pickup_time_must_leave_the_kitchen_ten_minutes_and_fit_the_day() -> None:
    now = local(2, "12:00")  # Wednesday noon
    assert validate_pickup("12:10", CAFE, now) == "12:10"
    assert validate_pickup("1:15 pm", CAFE, now) == "13:15"
    with pytest.raises(OrderError, match="earliest pickup is 12:10"):
        validate_pickup("12:05", CAFE, now)
    with pytest.raises(OrderError, match="after our last orders today \\(17:30\\)"):
        validate_pickup("17:45", CAFE, now)
    assert suggested_times(CAFE, now) == ["12:15", "12:30", "12:45"]


@pytest.mark.parametrize(("instant", "today", "tomorrow"), [
    (datetime(2026, 6, 7, 21, 59, 59, tzinfo=UTC), "Sunday (today)", "Monday (tomorrow)"),  # 23:59:59 Berlin
    (datetime(2026, 6, 7, 22, 0, 0, tzinfo=UTC), "Monday (today)", "Tuesday (tomorrow)"),  # 00:00 Berlin, UTC Sunday
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Sunday (today)", "Monday (tomorrow)"),  # 03:30 CEST, the DST switch
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "Friday (today)", "Saturday (tomorrow)"),  # 00:30 on New Year's Day
])
def test_today_and_tomorrow_follow_the_cafes_calendar_across_midnight_and_dst(
    instant: datetime, today: str, tomorrow: str
) -> None:
    answer = OfflineAnswerer(lambda: MENU, lambda: CAFE).answer("opening hours today and tomorrow?", now=instant)
    assert answer is not None and answer.startswith(today) and f"\n{tomorrow}" in answer


async def test_the_app_uses_the_injected_clock_for_answers_the_models_clock_and_the_order_day(
    tmp_path: Path, http: aiohttp.ClientSession, openai_server: FakeOpenAI
) -> None:
    """Monday 00:30 in Berlin is still Sunday 22:30 in UTC: the order belongs to Monday's numbering."""
    monday_night = datetime(2026, 6, 7, 22, 30, tzinfo=UTC)
    openai_server.script("We're closed right now.")
    settings = make_settings(tmp_path, **with_openai(openai_server), cafe_path=always_open_cafe(tmp_path),
                             clock_frozen_at=monday_night.isoformat())
    async with running_app(settings) as app:
        assert app.services is not None and app.services.orders is not None
        async with http.post(f"http://127.0.0.1:{app.port}/api/agent/chat", headers=admin_headers(),
                             json={"user_id": 5, "text": "are you open right now?"}) as r:
            assert r.status == 200
        orders = app.services.orders
        await orders.add_to_cart(7, "flat-white")
        summary = await orders.place_order(7, 7, pickup="asap")
        order, _ = await orders.confirm(7, summary.token)
    system = openai_server.requests[-1]["messages"][0]["content"]
    assert "Now it is Monday 2026-06-08 00:30 at the cafe (Europe/Berlin)." in system
    assert order.business_day == "2026-06-08" and order.number == "#001"


async def test_limited_mode_answers_and_pickup_buttons_follow_the_frozen_wall_clock(
    tmp_path: Path, http: aiohttp.ClientSession, wall_clock: FrozenClock
) -> None:
    """Runs at the moment the test starts, and in CI at every `--clock` instant (see conftest)."""
    now = wall_clock.now()
    async with running_app(make_settings(tmp_path)) as app:  # CLOCK_FROZEN_AT comes from the environment
        assert app.services is not None and app.services.orders is not None
        async with http.post(f"http://127.0.0.1:{app.port}/api/agent/chat", headers=admin_headers(),
                             json={"user_id": 5, "text": "are you open now?"}) as r:
            answer = (await r.json())["answer"]
        choices = app.services.orders.pickup_choices()
    assert answer.endswith(open_now(now))
    assert choices == (suggested_times(CAFE, now), is_open_now(CAFE, now))


def test_a_frozen_clock_needs_a_timezone_aware_instant() -> None:
    assert FrozenClock(datetime(2026, 6, 7, 23, 59, tzinfo=BERLIN)).now().weekday() == 6
    with pytest.raises(ValueError):
        FrozenClock(datetime(2026, 6, 7, 23, 59))  # naive: which zone would it be?
