"""The language of the current context (one update, one outbox delivery) and the gettext calls that read it.

A `ContextVar`, as aiogram's own I18n keeps it: every asyncio task started inside a handler
inherits the language of its update, and concurrent updates never see each other's.
Outside any context the texts stay in the source language (English).
"""

from __future__ import annotations

import contextlib
import gettext as _gettext
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from bot.i18n.catalogues import DEFAULT_LOCALE

if TYPE_CHECKING:
    from bot.i18n.catalogues import Catalogues

_NULL = _gettext.NullTranslations()
_active: ContextVar[tuple[str, _gettext.NullTranslations]] = ContextVar("bot_locale", default=(DEFAULT_LOCALE, _NULL))


def current_locale() -> str:
    return _active.get()[0]


def gettext(message: str) -> str:
    return _active.get()[1].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active.get()[1].ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a text for extraction without translating it (module-level constants)."""
    return message


@contextlib.contextmanager
def use_locale(catalogues: Catalogues, locale: str) -> Iterator[str]:
    """The language for a block (an outbox delivery, a test); the previous one afterwards."""
    code = catalogues.resolve(locale)
    token = _active.set((code, catalogues.translations(code)))
    try:
        yield code
    finally:
        _active.reset(token)
