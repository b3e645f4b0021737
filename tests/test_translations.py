"""The catalogues are complete: every text the code marks for translation has a German translation.

The msgids are extracted from the source exactly as `pybabel extract -F babel.cfg` does (README, "Languages"),
so a text added without a translation fails here, naming it, rather than reaching a German customer in English.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import Catalogues, _, price, use_locale
from bot.i18n.catalogues import LOCALES_DIR
from bot.knowledge.models import Category
from testkit import ROOT

KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{\w*\}")


def source_msgids() -> set[str]:
    ids: set[str] = set()
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS,
        ):
            ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def translated_languages() -> list[Path]:
    return sorted(LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"))


def test_german_is_shipped() -> None:
    assert "de" in [p.parent.parent.name for p in translated_languages()]


@pytest.mark.parametrize("po", translated_languages(), ids=lambda p: p.parent.parent.name)
def test_every_text_of_the_code_is_translated(po: Path) -> None:
    with po.open("rb") as fh:
        catalog = read_po(fh)
    wanted = source_msgids()
    assert len(wanted) > 150  # the extraction found the bot's texts (not an empty tree)
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    missing = sorted(wanted - set(entries))
    assert not missing, f"{po}: no entry for {missing} (run pybabel extract + update, README 'Languages')"
    untranslated = sorted(i for i in wanted if not all(entries[i].string if isinstance(entries[i].string, tuple)
                                                        else (entries[i].string,)) or entries[i].fuzzy)
    assert not untranslated, f"{po}: not translated (or fuzzy): {untranslated}"
    for msgid in wanted:
        entry = entries[msgid]
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(ids[0])), (msgid, text)
    obsolete = sorted(set(entries) - wanted)
    assert not obsolete, f"{po}: entries no code uses any more: {obsolete}"


def test_catalogues_resolve_telegram_language_codes() -> None:
    catalogues = Catalogues()
    assert catalogues.resolve("de-AT") == "de" and catalogues.resolve("DE") == "de"
    assert catalogues.resolve("fr", None) == "en"  # not translated: the default
    assert catalogues.resolve(None, "de") == "de" and catalogues.resolve("en", "de") == "en"  # the first that fits
    with use_locale(catalogues, "de"):
        assert _("🛒 Cart") == "🛒 Warenkorb"
    assert _("🛒 Cart") == "🛒 Cart"  # outside: the source language


def test_prices_per_locale() -> None:
    assert price(320, "EUR", "en") == "€3.20" and price(320, "USD", "en") == "$3.20"
    assert price(320, "EUR", "de") == "3,20\u00a0€"  # Babel keeps the amount and the sign on one line
    assert price(123456, "EUR", "de") == "1.234,56\u00a0€"


def test_menu_names_may_be_translated_per_field_and_fall_back_to_english() -> None:
    item = {"id": "flat-white", "name": {"en": "Flat White", "de": "Flat White (Doppio)"}, "price": 3.6,
            "description": {"en": "Double ristretto.", "fr": "Double ristretto, lait."}}
    category = Category.model_validate({"id": "coffee", "name": {"en": "Coffee", "de": "Kaffee"}, "items": [item]})
    [flat] = category.items
    assert (category.name, category.name_in("de"), category.name_in("fr")) == ("Coffee", "Kaffee", "Coffee")
    assert (flat.name, flat.name_in("de"), flat.description_in("de"), flat.description_in("fr")) == (
        "Flat White", "Flat White (Doppio)", "Double ristretto.", "Double ristretto, lait.")
    plain = Category.model_validate({"id": "tea", "name": "Tea", "items": [{**item, "name": "Tea"}]})
    assert plain.name_in("de") == "Tea"  # a plain string is the default language, as always


@pytest.mark.parametrize(("name", "says"), [({"de": "Kaffee"}, "'en'"), ({"en": "Coffee", "german": "x"}, "'german'")])
def test_a_translated_name_needs_english_and_language_codes(name: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Category.model_validate({"id": "coffee", "name": name,
                                 "items": [{"id": "espresso", "name": "Espresso", "price": 2.4}]})
