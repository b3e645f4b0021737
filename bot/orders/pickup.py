"""Pickup times: what the customer typed or pressed, checked against the day's opening hours.

Today's hours are the date's (`CafeInfo.hours_on`): a closure or special day in cafe.yaml wins
over the weekday's hours, and its reason is what a refused customer is told.

Times are the cafe's local time (cafe.yaml `timezone`). A pickup is `asap` or
`HH:MM` today, inside opening hours and before the kitchen's last orders
(`kitchen_closes_before_minutes` before closing), and at least a few minutes ahead.

A pre-order names its day ("tomorrow 8:15", "8:15 tomorrow", "Saturday 9:30", "morgen 8:15", or a
slot button's "2026-12-01 08:15") and is stored as "YYYY-MM-DD HH:MM": a bare "HH:MM" stays what it
always was, a time today, so orders stored before pre-orders existed read the same. The day must be
within `PickupRules.days_ahead`, open (`hours_on`), and the time inside that day's window.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import _, clock, current_locale, ngettext, short_day
from bot.knowledge import CafeInfo
from bot.orders.models import OrderError

log = logging.getLogger(__name__)

ASAP = "asap"
LEAD_MINUTES = 10  # a typed time must leave the kitchen this long
_ASAP_WORDS = {"asap", "now", "as soon as possible", "soon", "right away", "right now", "sofort", "so bald wie möglich",
               "jetzt", "gleich", "so schnell wie möglich"}
_TIME = re.compile(r"^(?:at\s+|um\s+)?(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|uhr)?$", re.IGNORECASE)
_COMPACT = re.compile(r"^(\d{2})(\d{2})$")
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[ t](\d{2}:\d{2})$")
_DAY_OFFSETS = {"today": 0, "heute": 0, "tomorrow": 1, "morgen": 1, "day after tomorrow": 2, "übermorgen": 2,
                "uebermorgen": 2}
_WEEKDAY_WORDS = {
    "monday": 0, "mon": 0, "montag": 0, "tuesday": 1, "tue": 1, "tues": 1, "dienstag": 1,
    "wednesday": 2, "wed": 2, "mittwoch": 2, "thursday": 3, "thu": 3, "thurs": 3, "donnerstag": 3,
    "friday": 4, "fri": 4, "freitag": 4, "saturday": 5, "sat": 5, "samstag": 5, "sonnabend": 5,
    "sunday": 6, "sun": 6, "sonntag": 6,
}
_DAY_WORD = "|".join(sorted(map(re.escape, [*_DAY_OFFSETS, *_WEEKDAY_WORDS]), key=len, reverse=True))
_ON = r"(?:on\s+|am\s+)?"
_DAY_FIRST = re.compile(rf"^{_ON}(?P<day>{_DAY_WORD})\.?,?\s+(?P<time>.+)$")
_DAY_LAST = re.compile(rf"^(?P<time>.+?),?\s+{_ON}(?P<day>{_DAY_WORD})\.?$")


@dataclass(frozen=True)
class PickupRules:
    """How far ahead and in which steps pickups are offered.

    From PREORDER_DAYS, PICKUP_SLOT_MINUTES and PICKUP_LEAD_MINUTES (built by OrderService).
    """

    days_ahead: int = 2  # 0 = today only, no pre-orders
    slot_minutes: int = 15
    lead_minutes: int = LEAD_MINUTES


def cafe_zone(cafe: CafeInfo) -> ZoneInfo:
    try:
        return ZoneInfo(cafe.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone %r in cafe.yaml; using UTC", cafe.timezone)
        return ZoneInfo("UTC")


def local_now(cafe: CafeInfo, now: datetime | None = None) -> datetime:
    zone = cafe_zone(cafe)
    return now.astimezone(zone) if now is not None else datetime.now(zone)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def day_window(cafe: CafeInfo, day: date) -> tuple[int, int] | None:
    """(opening, last order) in minutes after local midnight on `day`, or None when closed that day.

    The date's hours come from `CafeInfo.hours_on` (closures and special days included).
    """
    hours = cafe.hours_on(day)
    if hours.closed:
        return None
    opens, closes = (_minutes(part) for part in hours.hours.split("-"))
    last = closes - cafe.kitchen_closes_before_minutes
    return (opens, last) if last > opens else None


def today_window(cafe: CafeInfo, now: datetime) -> tuple[int, int] | None:
    """(opening, last order) today, `now` being the cafe's local time; None when closed today."""
    return day_window(cafe, now.date())


def parse_time(text: str) -> int | None:
    """'12:30', '12.30', '1230', '9', '1:15 pm', 'at 9am' → minutes after midnight; None if not a time."""
    cleaned = text.strip().lower()
    match = _COMPACT.match(cleaned)
    if match:
        hours, minutes, suffix = int(match[1]), int(match[2]), None
    else:
        match = _TIME.match(cleaned)
        if not match:
            return None
        hours, minutes, suffix = int(match[1]), int(match[2] or 0), match[3]
    if suffix and suffix.lower() != "uhr":
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if suffix.lower() == "pm" else 0)
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def parse_dated(text: str, today: date) -> tuple[date, int] | None:
    """'tomorrow 8:15', '8:15 tomorrow', 'Saturday 9:30', 'morgen um 8:15', '2026-12-01 08:15' → (day, minutes).

    None when the text names no day (a bare time is today's); OrderError when it names a day but no time.
    A weekday is its next occurrence, today included.
    """
    iso = _ISO.match(text)
    if iso:
        try:
            return date.fromisoformat(iso[1]), _minutes(iso[2])
        except ValueError:
            return None
    match = _DAY_FIRST.match(text) or _DAY_LAST.match(text)
    if match is None:
        if text.rstrip(".") in _DAY_OFFSETS or text.rstrip(".") in _WEEKDAY_WORDS:
            raise OrderError(_("Please add a time, like “tomorrow 8:15”."))
        return None
    wanted = parse_time(match["time"])
    if wanted is None:
        raise OrderError(_("Please send a day and a time, like “tomorrow 8:15”."))
    word = match["day"]
    if word in _DAY_OFFSETS:
        return today + timedelta(days=_DAY_OFFSETS[word]), wanted
    return today + timedelta(days=(_WEEKDAY_WORDS[word] - today.weekday()) % 7), wanted


def _validate_later_day(day: date, wanted: int, cafe: CafeInfo, current: datetime, rules: PickupRules) -> str:
    """A pickup on a later day than today: within the pre-order horizon, open, inside that day's window."""
    ahead = (day - current.date()).days
    if ahead < 0:
        raise OrderError(_("That day has passed. Pick a time today or a day ahead."))
    if ahead > rules.days_ahead:
        if rules.days_ahead == 0:
            raise OrderError(_("Sorry, we only take orders for today."))
        raise OrderError(ngettext("Sorry, we take orders at most {days} day ahead.",
                                  "Sorry, we take orders at most {days} days ahead.",
                                  rules.days_ahead).format(days=rules.days_ahead))
    window = day_window(cafe, day)
    if window is None:
        reason = cafe.hours_on(day, current_locale()).reason
        if reason:
            raise OrderError(_("Sorry, we're closed on {day} ({reason}).").format(day=short_day(day), reason=reason))
        raise OrderError(_("Sorry, we're closed on {day}.").format(day=short_day(day)))
    opens, last = window
    if not opens <= wanted <= last:
        raise OrderError(_("On {day} we take pickups from {opens} until {last}.").format(
            day=short_day(day), opens=_fmt(opens), last=_fmt(last)))
    return f"{day.isoformat()} {_fmt(wanted)}"


def validate_pickup(text: str, cafe: CafeInfo, now: datetime | None = None,
                    rules: PickupRules | None = None) -> str:
    """The pickup as stored ('asap', 'HH:MM' today or 'YYYY-MM-DD HH:MM'), or OrderError saying what would work."""
    rules = rules or PickupRules()
    current = local_now(cafe, now)
    cleaned = text.strip().lower()
    dated = parse_dated(cleaned, current.date())
    if dated is not None:
        day, wanted_minutes = dated
        if day != current.date():
            return _validate_later_day(day, wanted_minutes, cafe, current, rules)
        cleaned = _fmt(wanted_minutes)  # "today 12:30": the rules of today below
    window = today_window(cafe, current)
    minute_now = current.hour * 60 + current.minute
    later = (" " + _("You can order for a later day: press a slot or send a day and a time, like “tomorrow 8:15”.")
             if rules.days_ahead else "")
    if window is None:
        reason = cafe.hours_on(current.date(), current_locale()).reason
        if reason:
            raise OrderError(_("Sorry, we're closed today ({reason}), so we can't take orders for pickup.").format(
                reason=reason) + later)
        raise OrderError(_("Sorry, we're closed today, so we can't take orders for pickup.") + later)
    opens, last = window
    if minute_now >= last:
        raise OrderError(_("Sorry, the kitchen has closed for today (last orders {time}).").format(
            time=_fmt(last)) + later)
    if cleaned in _ASAP_WORDS:
        if minute_now < opens:
            raise OrderError(_("We open at {opens}. Pick a time from then until {last}.").format(
                opens=_fmt(opens), last=_fmt(last)))
        return ASAP
    wanted = parse_time(cleaned)
    if wanted is None:
        raise OrderError(_("Please send a time like 12:30, or press “As soon as possible”."))
    earliest = max(opens, minute_now + rules.lead_minutes)
    if wanted < earliest:
        raise OrderError(_("That's too soon. The earliest pickup is {time}.").format(time=_fmt(earliest)))
    if wanted > last:
        raise OrderError(_("That's after our last orders today ({last}). Pick a time until {last}.").format(
            last=_fmt(last)))
    return _fmt(wanted)


def suggested_times(cafe: CafeInfo, now: datetime | None = None, count: int = 3,
                    rules: PickupRules | None = None) -> list[str]:
    """Pickup times worth a button today: the next slots at least the lead time ahead."""
    rules = rules or PickupRules()
    current = local_now(cafe, now)
    window = today_window(cafe, current)
    if window is None:
        return []
    opens, last = window
    minute_now = current.hour * 60 + current.minute
    start = max(opens, minute_now + rules.lead_minutes)
    step = rules.slot_minutes
    start = (start + step - 1) // step * step
    slots = [start + step * i for i in range(count)]
    return [_fmt(m) for m in slots if m <= last]


def preorder_slots(cafe: CafeInfo, now: datetime | None = None, rules: PickupRules | None = None,
                   per_day: int = 4) -> list[tuple[date, list[str]]]:
    """The first slots of each later open day within the horizon: closures (`hours_on`) offer none."""
    rules = rules or PickupRules()
    today = local_now(cafe, now).date()
    offered = []
    for ahead in range(1, rules.days_ahead + 1):
        day = today + timedelta(days=ahead)
        window = day_window(cafe, day)
        if window is None:
            continue
        opens, last = window
        start = (opens + rules.slot_minutes - 1) // rules.slot_minutes * rules.slot_minutes
        times = [_fmt(m) for m in range(start, last + 1, rules.slot_minutes)][:per_day]
        if times:
            offered.append((day, times))
    return offered


def pickup_moment(pickup: str, placed_on: date) -> tuple[date, str] | None:
    """(day, 'HH:MM') of a stored pickup; a bare time is on the day the order was placed; None for asap."""
    if pickup == ASAP:
        return None
    if " " in pickup:
        day, hhmm = pickup.split(" ", 1)
        return date.fromisoformat(day), hhmm
    return placed_on, pickup


def preorder_at(pickup: str, cafe: CafeInfo) -> datetime | None:
    """The instant of a pre-order's pickup ('YYYY-MM-DD HH:MM', the cafe's local time); None for asap or today's.

    Aware, in the cafe's zone, so its `timestamp()` is the true instant across a DST change.
    """
    if pickup == ASAP or " " not in pickup:
        return None
    day_iso, hhmm = pickup.split(" ", 1)
    return datetime.combine(date.fromisoformat(day_iso), datetime.strptime(hhmm, "%H:%M").time(),
                            tzinfo=cafe_zone(cafe))


def is_open_now(cafe: CafeInfo, now: datetime | None = None) -> bool:
    current = local_now(cafe, now)
    window = today_window(cafe, current)
    minute_now = current.hour * 60 + current.minute
    return window is not None and window[0] <= minute_now < window[1]


def describe(pickup: str, today: date | None = None) -> str:
    """'as soon as possible', 'at 12:30' (today), 'tomorrow, Tue, Dec 1, 08:15' (a pre-order, its day spelled out).

    `today` is the reader's today (the cafe's local date): a pre-order's day is then also said as
    "today" or "tomorrow"; without it only the date is shown.
    """
    if pickup == ASAP:
        return _("as soon as possible")
    if " " not in pickup:
        return _("at {time}").format(time=pickup)
    day_iso, hhmm = pickup.split(" ", 1)
    day = date.fromisoformat(day_iso)
    time = clock(datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time()))
    when = _("{day}, {time}").format(day=short_day(day), time=time)
    if today is not None and day == today:
        return _("today, {when}").format(when=when)
    if today is not None and day == today + timedelta(days=1):
        return _("tomorrow, {when}").format(when=when)
    return _("on {when}").format(when=when)
