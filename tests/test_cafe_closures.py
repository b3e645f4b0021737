"""Closures and special hours in cafe.yaml: validated at load, and obeyed by every answer about the hours.

On a fixed clock: the checkout refuses the day's pickups with the reason, the offline answers say
closed and why, the model's clock line carries today's hours, and a special day's shorter hours
bound the pickup times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml

from bot.agent.offline import OfflineAnswerer
from bot.config import DATA_DIR
from bot.knowledge.loader import DataFileError, load_cafe, load_menu
from bot.orders import OrderError
from bot.orders.pickup import is_open_now, suggested_times, validate_pickup
from bot.prompts import build_system_prompt, clock_message
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.settings import with_openai
from tests.helpers import CUSTOMER_ID, admin_headers, running_app
from tests.ordering import order_settings, press

MENU, _ = load_menu(DATA_DIR / "menu.yaml")
CAFE, _ = load_cafe(DATA_DIR / "cafe.yaml")
BERLIN = ZoneInfo("Europe/Berlin")
TRAINING = date(2026, 6, 3)  # a Wednesday: usually 07:30-18:00


def at(day: date, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=BERLIN)


def cafe_file(tmp_path: Path, closures: list[dict[str, str]], always_open: bool = True) -> Path:
    cafe = yaml.safe_load((DATA_DIR / "cafe.yaml").read_text(encoding="utf-8"))
    if always_open:
        cafe["hours"] = {day: "00:00-24:00" for day in cafe["hours"]}
        cafe["kitchen_closes_before_minutes"] = 0
    cafe["closures"] = closures
    path = tmp_path / "cafe-closures.yaml"  # not cafe.yaml: order_settings writes that one
    path.write_text(yaml.safe_dump(cafe, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_shipped_closures_override_the_weekday() -> None:
    assert CAFE.hours_on(date(2026, 12, 24)) == ("09:00-14:00", "Christmas Eve")  # a Thursday: usually to 20:00
    assert CAFE.hours_on(date(2026, 12, 26)) == ("closed", "Christmas holidays")  # the range's last day
    assert CAFE.hours_on(date(2026, 12, 27)) == ("09:00-16:00", "")  # an ordinary Sunday again
    christmas_eve = at(date(2026, 12, 24), "12:00")
    assert suggested_times(CAFE, christmas_eve) == ["12:15", "12:30", "12:45"]
    with pytest.raises(OrderError, match=r"after our last orders today \(13:30\)"):
        validate_pickup("15:00", CAFE, christmas_eve)
    with pytest.raises(OrderError, match=r"closed today \(Christmas holidays\)"):
        validate_pickup("asap", CAFE, at(date(2026, 12, 25), "11:00"))
    assert not is_open_now(CAFE, at(date(2026, 12, 25), "11:00"))


def test_offline_answers_name_the_closure_and_the_next_opening() -> None:
    answers = OfflineAnswerer(lambda: MENU, lambda: CAFE)
    now = at(date(2026, 12, 25), "11:00")  # Friday, Christmas
    assert answers.answer("are you open now?", now=now) == (
        "We're closed today (Christmas holidays). We're closed right now; we open again on Sunday at 09:00.")
    today = answers.answer("opening hours today and tomorrow?", now=now) or ""
    assert today.startswith("Friday (today): closed (Christmas holidays)")
    assert "Saturday (tomorrow): closed (Christmas holidays)" in today
    week = answers.answer("what are your opening hours?", now=at(date(2026, 12, 20), "11:00")) or ""
    assert "Special days coming up:" in week and "(Christmas Eve)" in week and "(Christmas holidays)" in week
    assert "Special days" not in (answers.answer("what are your opening hours?", now=at(date(2026, 6, 1), "11:00"))
                                  or "")


def test_the_prompt_lists_closures_and_the_clock_line_says_today_is_special() -> None:
    assert "- 2026-12-25 to 2026-12-26: closed (Christmas holidays)" in build_system_prompt(MENU, CAFE)
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    assert clock_message(CAFE, christmas).endswith("Today's hours: closed (Christmas holidays).")
    assert "Today's hours" not in clock_message(CAFE, datetime(2026, 6, 1, 10, 0, tzinfo=UTC))


@pytest.mark.parametrize(("entry", "field", "message"), [
    ({"date": "2026-12-24", "hours": "9-14", "reason": "x"}, "closures[0].hours", "hours must look like"),
    ({"date": "2026-12-24", "hours": "closed"}, "closures[0].reason", "Field required"),
    ({"date": "24.12.2026", "reason": "x"}, "closures[0].date", "valid date"),
    ({"date": "2026-12-24", "until": "2026-12-20", "reason": "x"}, "closures[0]", "before date"),
    ({"date": "2026-12-24", "reason": "x", "hour": "closed"}, "closures[0].hour", "Extra inputs"),
])
def test_a_malformed_closure_names_file_line_and_field(
    tmp_path: Path, entry: dict[str, str], field: str, message: str
) -> None:
    path = cafe_file(tmp_path, [entry], always_open=False)
    with pytest.raises(DataFileError) as info:
        load_cafe(path)
    error = info.value
    assert error.field == field and message in str(error), str(error)
    assert error.line is not None and str(path) in str(error) and f"line {error.line}" in str(error)
    assert "date:" in path.read_text().splitlines()[error.line - 1] or "closures" in str(error)


def test_overlapping_closures_are_refused(tmp_path: Path) -> None:
    path = cafe_file(tmp_path, [{"date": "2026-12-24", "until": "2026-12-26", "reason": "Christmas"},
                                {"date": "2026-12-26", "reason": "Boxing Day"}], always_open=False)
    with pytest.raises(DataFileError, match=r"closures: 2026-12-26 overlaps the closure from 2026-12-24"):
        load_cafe(path)


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str) -> SentMessage:
    return await telegram.wait_for(
        lambda: next((m for m in reversed(telegram.sent_to(chat_id)) if contains.lower() in m.text.lower()), None))


async def test_on_a_closure_date_checkout_refuses_the_slot_with_the_reason_and_the_answers_say_why(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    cafe = cafe_file(tmp_path, [{"date": TRAINING.isoformat(), "hours": "closed", "reason": "Staff training"}])
    settings = order_settings(tmp_path, telegram.url, cafe_path=cafe,
                              clock_frozen_at=at(TRAINING, "10:00").isoformat())
    async with running_app(settings) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await _latest(telegram, CUSTOMER_ID, "Your cart")
        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await telegram.wait_for(lambda: "When will you pick it up" in page.text)
        assert not any("As soon as possible" in b["text"] for b in page.buttons())  # no slot offered today
        telegram.send_text(CUSTOMER_ID, "12:30")
        refusal = await _latest(telegram, CUSTOMER_ID, "closed today")
        with pytest.raises(OrderError, match=r"closed today \(Staff training\)"):
            await orders.place_order(CUSTOMER_ID, CUSTOMER_ID, pickup="asap")  # the agent's way in, too
        async with http.post(f"http://127.0.0.1:{app.port}/api/agent/chat", headers=admin_headers(),
                             json={"user_id": 5, "text": "are you open today?"}) as r:
            answer = (await r.json())["answer"]  # limited mode: the offline answerer
    assert "Staff training" in refusal.text and "can't take orders" in refusal.text
    assert "Wednesday (today): closed (Staff training)" in answer


async def test_the_models_clock_line_carries_todays_special_hours(
    tmp_path: Path, http: aiohttp.ClientSession, openai_server: FakeOpenAI, telegram: FakeTelegram
) -> None:
    openai_server.script("We close early today, at 14:00.")
    cafe = cafe_file(tmp_path, [{"date": TRAINING.isoformat(), "hours": "08:00-14:00", "reason": "Street party"}])
    settings = order_settings(tmp_path, telegram.url, cafe_path=cafe, clock_frozen_at=at(TRAINING, "13:00").isoformat(),
                              **with_openai(openai_server))
    async with running_app(settings) as app:
        async with http.post(f"http://127.0.0.1:{app.port}/api/agent/chat", headers=admin_headers(),
                             json={"user_id": 5, "text": "how long are you open today?"}) as r:
            assert r.status == 200
        assert app.services.orders.pickup_choices() == (["13:15", "13:30", "13:45"], True)
    system = openai_server.requests[-1]["messages"][0]["content"]
    assert "Today's hours: 08:00-14:00 (Street party)." in system
    assert "- 2026-06-03: 08:00-14:00 (Street party)" in system
