"""Languages: every fixed text the bot sends, in the reader's language (gettext catalogues managed with Babel).

- `_("...")` translates a text now, in the language of the current context; `N_("...")` only marks
  a module-level constant for extraction (translate it with `_(CONSTANT)` where it is sent);
  `ngettext` for plurals.
- The language of the context is set per Telegram update by `LocaleMiddleware`
  (bot/telegram/middlewares.py), and around outbox deliveries by the order renderer;
  code that runs outside both (the console, the side server) speaks the default language.
- `price`, `clock`, `day` format money, times and dates with Babel's CLDR data for that language.
- The catalogues are `locales/<lang>/LC_MESSAGES/messages.po`, compiled in memory at start
  (`Catalogues`): a new language is one .po file (README, "Languages").
"""

from bot.i18n.catalogues import DEFAULT_LOCALE, Catalogues, normalise_locale
from bot.i18n.context import N_, current_locale, gettext, ngettext, use_locale
from bot.i18n.formats import clock, day, price, short_day, short_weekday, weekday_name

_ = gettext

__all__ = ["DEFAULT_LOCALE", "N_", "Catalogues", "_", "clock", "current_locale", "day", "gettext", "ngettext",
           "normalise_locale", "price", "short_day", "short_weekday", "use_locale", "weekday_name"]
