"""Money, times and dates in the current language's conventions (Babel's CLDR data).

English keeps the bot's historical shapes ("€3.20"); German writes "3,20 €". Times are 24 h in both.
"""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date, format_skeleton, format_time, get_day_names
from babel.numbers import format_currency

from bot.i18n.context import current_locale

_BABEL_LOCALE = {"en": "en_US"}  # "€3.20", "$3.20", "£3.20": the shapes the English texts always had


def _babel(locale: str | None) -> str:
    code = locale or current_locale()
    return _BABEL_LOCALE.get(code, code)


def price(cents: int, currency: str = "EUR", locale: str | None = None) -> str:
    """3.20 EUR → "€3.20" (en), "3,20 €" (de)."""
    return format_currency(cents / 100, currency, locale=_babel(locale))


def clock(moment: dt.datetime | dt.time, locale: str | None = None) -> str:
    """A time of day, 24 h in every language: "14:30"."""
    return format_time(moment, "HH:mm", locale=_babel(locale))


def day(date: dt.date, locale: str | None = None) -> str:
    """A calendar day: "Nov 30, 2026" (en), "30.11.2026" (de)."""
    return format_date(date, "medium", locale=_babel(locale))


def short_day(date: dt.date, locale: str | None = None) -> str:
    """A day near enough to need no year: "Tue, Dec 1" (en), "Di., 1. Dez." (de)."""
    return format_skeleton("MMMEd", date, locale=_babel(locale))


def short_weekday(date: dt.date, locale: str | None = None) -> str:
    """The weekday of a button: "Tue" (en), "Di." (de)."""
    return format_date(date, "EEE", locale=_babel(locale))


def weekday_name(index: int, locale: str | None = None) -> str:
    """0 = Monday: "Monday" (en), "Montag" (de)."""
    return str(get_day_names("wide", locale=_babel(locale))[index])
