"""The translation catalogues: one gettext `.po` file per language, read and compiled in memory by Babel.

The `.po` files are the source of truth and the only files committed: reading them at start
(a few milliseconds) means there is no `.mo` to forget to compile, and a fresh clone runs as is.
English is the source language (the msgids), so its catalogue is optional and empty.
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"


def normalise_locale(code: str | None) -> str:
    """Telegram's IETF tag ('de', 'de-AT', 'pt-br') as a catalogue name: the language part, lower case."""
    return (code or "").replace("_", "-").split("-", 1)[0].strip().lower()


def compile_po(path: Path) -> _gettext.GNUTranslations:
    """A `.po` file as the translations object gettext would load from its `.mo`; fuzzy entries are left out."""
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=path.parent.parent.name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


class Catalogues:
    """Every language the bot speaks: the default (the msgids) plus one per `.po` file under `directory`."""

    def __init__(self, directory: Path = LOCALES_DIR, default: str = DEFAULT_LOCALE) -> None:
        self.default = default
        self._translations: dict[str, _gettext.NullTranslations] = {default: _gettext.NullTranslations()}
        for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            self._translations[po.parent.parent.name] = compile_po(po)
        log.debug("languages: %s", ", ".join(self.locales))

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._translations)

    def supports(self, locale: str | None) -> bool:
        return normalise_locale(locale) in self._translations

    def resolve(self, *candidates: str | None) -> str:
        """The first candidate the bot speaks ('de-AT' → 'de'), else the default language."""
        for candidate in candidates:
            code = normalise_locale(candidate)
            if code in self._translations:
                return code
        return self.default

    def translations(self, locale: str) -> _gettext.NullTranslations:
        return self._translations.get(normalise_locale(locale), self._translations[self.default])
