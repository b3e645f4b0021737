"""Menu and cafe facts: realistic sample data, clear errors, the last good menu kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.knowledge.loader import DataFileError, load_cafe, load_menu
from testkit import ROOT
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import ADMIN_ID, make_settings
from tests.helpers import CUSTOMER_ID, running_app

MENU = ROOT / "data" / "menu.yaml"
CAFE = ROOT / "data" / "cafe.yaml"


def test_sample_menu_is_realistic() -> None:
    menu, _ = load_menu(MENU)
    items = menu.items()
    assert len(items) >= 30
    assert len(menu.categories) >= 5
    assert any("vegan" in i.tags for i in items) and any("gluten-free" in i.tags for i in items)
    assert any(not i.available for i in items)
    assert all(i.min_price_cents > 0 for i in items)
    assert menu.item("flat-white").price_cents == 360
    assert menu.item("cappuccino").price_for("large") == 390


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    copy = tmp_path / "menu.yaml"
    copy.write_text(MENU.read_text() + "\n# a comment changes nothing\n")
    assert load_menu(copy)[0].version == load_menu(MENU)[0].version
    copy.write_text(MENU.read_text().replace("price: 3.60", "price: 3.70"))
    assert load_menu(copy)[0].version != load_menu(MENU)[0].version


@pytest.mark.parametrize(
    ("edit", "field", "line_text"),
    [
        (("price: 3.60", "price: three"), "categories[0].items[3].price", "price: three"),
        (("tags: [vegan, gluten-free, dairy-free, nut-free]\n        allergens: []\n      - id: americano",
          "tags: [vegan, glutenfree]\n        allergens: []\n      - id: americano"),
         "categories[0].items[0].tags[1]", "tags: [vegan, glutenfree]"),
        (("        price: 2.40\n", ""), "categories[0].items[0]", "- id: espresso"),
    ],
)
def test_malformed_menu_names_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], field: str, line_text: str
) -> None:
    bad = tmp_path / "menu.yaml"
    text = MENU.read_text().replace(*edit, 1)
    bad.write_text(text)
    with pytest.raises(DataFileError) as info:
        load_menu(bad)
    error = info.value
    assert error.field == field
    assert str(bad) in str(error) and f"line {error.line}" in str(error)
    assert line_text in text.splitlines()[error.line - 1]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "cafe.yaml"
    lines = CAFE.read_text().splitlines()
    lines[5] = "phone: [unclosed"
    bad.write_text("\n".join(lines))
    with pytest.raises(DataFileError, match=r"line \d+: invalid YAML"):
        load_cafe(bad)


def test_cafe_hours_must_cover_every_weekday(tmp_path: Path) -> None:
    bad = tmp_path / "cafe.yaml"
    bad.write_text(CAFE.read_text().replace('  sunday: "09:00-16:00"\n', ""))
    with pytest.raises(DataFileError, match="sunday"):
        load_cafe(bad)


def test_a_cafe_policy_without_its_english_text_is_refused_naming_the_policy(tmp_path: Path) -> None:
    bad = tmp_path / "cafe.yaml"
    text = CAFE.read_text()
    bad.write_text(text.replace("  pets:\n    en: ", "  pets:\n    fr: "))
    with pytest.raises(DataFileError, match=r"policies\.pets"):
        load_cafe(bad)


async def test_bad_edit_keeps_the_last_good_menu_live_and_after_restart(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    menu_path, cafe_path = tmp_path / "menu.yaml", tmp_path / "cafe.yaml"
    shutil.copy(MENU, menu_path)
    shutil.copy(CAFE, cafe_path)
    settings = make_settings(tmp_path, telegram.url, menu_path=menu_path, cafe_path=cafe_path)
    good_version = load_menu(MENU)[0].version
    async with running_app(settings) as app:
        assert app.services.knowledge.menu_version == good_version
        menu_path.write_text(MENU.read_text().replace("price: 3.60", "price: -1"))
        telegram.send_text(ADMIN_ID, "/reload_menu")
        [reply] = await telegram.wait_for_messages(ADMIN_ID)
        assert "Kept the last good data" in reply.text and "line" in reply.text
        assert app.services.knowledge.menu_version == good_version
        telegram.send_text(CUSTOMER_ID, "/reload_menu")  # not an admin: no effect
    async with running_app(settings) as app:  # restart with the bad file: the DB snapshot serves
        assert app.services.knowledge.menu_version == good_version
        assert app.services.knowledge.menu.item("flat-white").price_cents == 360


async def test_reload_applies_a_good_edit_and_tells_listeners(telegram: FakeTelegram, tmp_path: Path) -> None:
    menu_path = tmp_path / "menu.yaml"
    shutil.copy(MENU, menu_path)
    settings = make_settings(tmp_path, telegram.url, menu_path=menu_path)
    async with running_app(settings) as app:
        seen: list[str] = []

        async def listener(kb) -> None:  # type: ignore[no-untyped-def]
            seen.append(kb.menu_version)

        app.services.knowledge.on_change(listener)
        menu_path.write_text(MENU.read_text().replace("price: 3.60", "price: 3.80"))
        result = await app.services.knowledge.reload()
        assert result.ok and result.changed
        assert app.services.knowledge.menu.item("flat-white").price_cents == 380
        assert seen == [result.menu_version]
