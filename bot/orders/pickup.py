"""Pickup times: what the customer typed or pressed, checked against today's opening hours.

Today's hours are the date's (`CafeInfo.hours_on`): a closure or special day in cafe.yaml wins
over the weekday's hours, and its reason is what a refused customer is told.

Times are the cafe's local time (cafe.yaml `timezone`). A pickup is `asap` or
`HH:MM` today, inside opening hours and before the kitchen's last orders
(`kitchen_closes_before_minutes` before closing), and at least a few minutes ahead.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import _
from bot.knowledge import CafeInfo
from bot.orders.models import OrderError

log = logging.getLogger(__name__)

ASAP = "asap"
LEAD_MINUTES = 10  # a typed time must leave the kitchen this long
_ASAP_WORDS = {"asap", "now", "as soon as possible", "soon", "right away", "right now", "sofort", "so bald wie möglich",
               "jetzt", "gleich", "so schnell wie möglich"}
_TIME = re.compile(r"^(?:at\s+|um\s+)?(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|uhr)?$", re.IGNORECASE)
_COMPACT = re.compile(r"^(\d{2})(\d{2})$")


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


def today_window(cafe: CafeInfo, now: datetime) -> tuple[int, int] | None:
    """(opening, last order) in minutes after local midnight, or None when closed today.

    `now` is the cafe's local time; the date's hours come from `CafeInfo.hours_on` (closures included).
    """
    today = cafe.hours_on(now.date())
    if today.closed:
        return None
    opens, closes = (_minutes(part) for part in today.hours.split("-"))
    last = closes - cafe.kitchen_closes_before_minutes
    return (opens, last) if last > opens else None


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


def validate_pickup(text: str, cafe: CafeInfo, now: datetime | None = None) -> str:
    """The pickup as stored ('asap' or 'HH:MM'), or OrderError saying what would work."""
    current = local_now(cafe, now)
    window = today_window(cafe, current)
    minute_now = current.hour * 60 + current.minute
    if window is None:
        reason = cafe.hours_on(current.date()).reason
        if reason:
            raise OrderError(_("Sorry, we're closed today ({reason}), so we can't take orders for pickup.").format(
                reason=reason))
        raise OrderError(_("Sorry, we're closed today, so we can't take orders for pickup."))
    opens, last = window
    if minute_now >= last:
        raise OrderError(_("Sorry, the kitchen has closed for today (last orders {time}).").format(time=_fmt(last)))
    cleaned = text.strip().lower()
    if cleaned in _ASAP_WORDS:
        if minute_now < opens:
            raise OrderError(_("We open at {opens}. Pick a time from then until {last}.").format(
                opens=_fmt(opens), last=_fmt(last)))
        return ASAP
    wanted = parse_time(cleaned)
    if wanted is None:
        raise OrderError(_("Please send a time like 12:30, or press “As soon as possible”."))
    earliest = max(opens, minute_now + LEAD_MINUTES)
    if wanted < earliest:
        raise OrderError(_("That's too soon. The earliest pickup is {time}.").format(time=_fmt(earliest)))
    if wanted > last:
        raise OrderError(_("That's after our last orders today ({last}). Pick a time until {last}.").format(
            last=_fmt(last)))
    return _fmt(wanted)


def suggested_times(cafe: CafeInfo, now: datetime | None = None, count: int = 3) -> list[str]:
    """Pickup times worth a button: the next quarter hours at least LEAD_MINUTES ahead."""
    current = local_now(cafe, now)
    window = today_window(cafe, current)
    if window is None:
        return []
    opens, last = window
    minute_now = current.hour * 60 + current.minute
    start = max(opens, minute_now + LEAD_MINUTES)
    start = (start + 14) // 15 * 15
    slots = [start + 15 * i for i in range(count)]
    return [_fmt(m) for m in slots if m <= last]


def is_open_now(cafe: CafeInfo, now: datetime | None = None) -> bool:
    current = local_now(cafe, now)
    window = today_window(cafe, current)
    minute_now = current.hour * 60 + current.minute
    return window is not None and window[0] <= minute_now < window[1]


def describe(pickup: str) -> str:
    return _("as soon as possible") if pickup == ASAP else _("at {time}").format(time=pickup)
