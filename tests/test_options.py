"""Item options (menu.yaml `options`): checked at load, chosen and priced by the one rule, stored on both engines."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import Catalogues, use_locale
from bot.knowledge.loader import DataFileError, load_cafe, load_menu
from bot.knowledge.models import MAX_ID_CHARS, MAX_OPTION_CHOICES, MAX_SIZES_WITH_OPTIONS, to_cents
from bot.orders import options
from bot.orders.models import MAX_LINE_QUANTITY, CartLine, OrderError, OrderLine
from bot.orders.texts import cart_line
from handlers.orders.callbacks import OptionsCb, pack_choices, unpack_choices
from storage.db import Database, _split_statements, migration_files
from storage.orders import OrderRepository
from storage.postgres import redact
from testkit import ROOT
from testkit.database import DEFAULT_POSTGRES_URL, TEST_DATABASE_URL, postgres_reachable, postgres_schema

MENU_PATH = ROOT / "data" / "menu.yaml"
MENU, _RAW = load_menu(MENU_PATH)
TELEGRAM_CALLBACK_DATA_BYTES = 64
MILK_GROUP = """            required: true
            default: dairy
"""


def test_the_sample_drinks_offer_plant_milk_at_the_price_the_cafe_policy_names() -> None:
    cafe, _ = load_cafe(ROOT / "data" / "cafe.yaml")
    assert "+0.40" in cafe.policies["plant_milk"]
    policy_cents = to_cents("0.40")
    milk_drinks = [i for i in MENU.items() if i.option_group("milk") is not None]
    assert {"cappuccino", "flat-white", "latte", "mocha", "cortado", "iced-latte"} <= {i.id for i in milk_drinks}
    for item in milk_drinks:
        milk = item.option_group("milk")
        assert milk is not None and milk.is_required and milk.default == ("dairy",)
        prices = {c.id: c.price_cents for c in milk.choices}
        assert prices == {"dairy": 0, "oat": policy_cents, "soy": policy_cents, "almond": policy_cents}, item.id
    # The separate Oat Latte costs what a latte with oat milk costs.
    latte, oat_latte = MENU.item("latte"), MENU.item("oat-latte")
    assert latte is not None and oat_latte is not None
    assert all(oat_latte.sizes[s] == latte.sizes[s] + policy_cents for s in latte.sizes)
    breakfast = MENU.item("full-breakfast")
    eggs = breakfast.option_group("eggs") if breakfast is not None else None
    assert eggs is not None and eggs.is_required and not eggs.default


@pytest.mark.parametrize(
    ("edit", "field", "line_text", "says"),
    [
        (("default: dairy", "default: cow"), "categories[0].items[2].options[0].default", "default: cow",
         "item 'cappuccino', group 'milk': default 'cow' is not one of the choices (dairy, oat, soy, almond)"),
        ((MILK_GROUP, "            min: 2\n            default: dairy\n"), "categories[0].items[2].options[0]",
         "- &milk", "item 'cappuccino', group 'milk': min 2 is more than max 1"),
        ((MILK_GROUP, "            required: true\n            min: 0\n            default: dairy\n"),
         "categories[0].items[2].options[0]", "- &milk", "required, but min is 0"),
        (("{id: soy, name:", "{id: oat, name:"), "categories[0].items[2].options[0]", "- &milk",
         "group 'milk': choice 'oat' appears twice"),
        (("price: 0.40}", "price: -0.40}"), "categories[0].items[2].options[0].choices[1].price", "{id: oat",
         "item 'cappuccino', group 'milk': must be a non-negative price"),
        (("{id: oat, name:", "{id: 'oat:milk', name:"), "categories[0].items[2].options[0].choices[1].id",
         "oat:milk", "':'"),
        (("required: true\n            default: dairy", "requird: true\n            default: dairy"),
         "categories[0].items[2].options[0].requird", "requird: true", "Extra inputs are not permitted"),
        ((MILK_GROUP, "            required: true\n            default: [dairy, oat]\n"),
         "categories[0].items[2].options[0]", "- &milk", "2 default choice(s), but the group takes 1 to 1"),
        (("          - &shot\n            id: shot\n", "          - &shot\n            id: milk\n"),
         "categories[0].items[2]", "- id: cappuccino", "item 'cappuccino': option group 'milk' appears twice"),
    ],
)
def test_bad_option_data_is_refused_naming_file_line_item_and_group(
    tmp_path: Path, edit: tuple[str, str], field: str, line_text: str, says: str
) -> None:
    text = MENU_PATH.read_text(encoding="utf-8")
    assert edit[0] in text, edit[0]
    bad = tmp_path / "menu.yaml"
    bad.write_text(text.replace(*edit, 1), encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        load_menu(bad)
    error = info.value
    assert error.field == field and says in str(error), str(error)
    assert error.line is not None and line_text in bad.read_text(encoding="utf-8").splitlines()[error.line - 1]


def test_an_item_with_more_choices_or_sizes_than_its_buttons_carry_is_refused(tmp_path: Path) -> None:
    text = MENU_PATH.read_text(encoding="utf-8")
    many = "".join(f"              - {{id: syrup-{n}, name: Syrup {n}, price: 0.30}}\n"
                   for n in range(MAX_OPTION_CHOICES))
    bad = tmp_path / "menu.yaml"
    bad.write_text(text.replace("            choices:\n              - {id: extra-shot",
                                "            choices:\n" + many + "              - {id: extra-shot", 1))
    with pytest.raises(DataFileError, match=f"has {MAX_OPTION_CHOICES + 5} option choices; at most "
                                            f"{MAX_OPTION_CHOICES}"):
        load_menu(bad)
    sizes = ", ".join(f"s{n}: 3.{n}0" for n in range(MAX_SIZES_WITH_OPTIONS + 1))
    bad.write_text(text.replace("sizes: {small: 3.30, large: 3.90}", f"sizes: {{{sizes}}}", 1))
    with pytest.raises(DataFileError, match="item 'cappuccino' has options and 11 sizes"):
        load_menu(bad)


def test_the_longest_options_button_fits_telegrams_64_bytes() -> None:
    longest = OptionsCb(item="a" * MAX_ID_CHARS, size=MAX_SIZES_WITH_OPTIONS - 1, qty=MAX_LINE_QUANTITY,
                        sel=f"{(1 << MAX_OPTION_CHOICES) - 1:x}", ver="abcdef", add=True).pack()
    assert len(longest.encode()) <= TELEGRAM_CALLBACK_DATA_BYTES, longest
    back = OptionsCb.unpack(longest)
    assert (back.item, back.size, back.qty, back.sel, back.add) == (
        "a" * MAX_ID_CHARS, MAX_SIZES_WITH_OPTIONS - 1, MAX_LINE_QUANTITY, "f" * (MAX_OPTION_CHOICES // 4), True)


def test_choices_travel_as_a_bit_mask_and_a_forged_bit_is_refused() -> None:
    latte = MENU.item("latte")
    assert latte is not None
    mask = pack_choices(latte, {("milk", "oat"), ("shot", "extra-shot")})
    assert mask == "12" and unpack_choices(latte, mask) == [("milk", "oat"), ("shot", "extra-shot")]
    with pytest.raises(OrderError, match="isn't on our menu"):
        unpack_choices(latte, f"{1 << len(latte.option_choices()):x}")


def test_choose_fills_defaults_refuses_what_the_menu_does_not_allow_and_keys_the_line() -> None:
    latte, breakfast, currency = MENU.item("latte"), MENU.item("full-breakfast"), MENU.currency
    assert latte is not None and breakfast is not None
    plain = options.choose(latte, [], currency)
    assert [(o.group, o.choice, o.default) for o in plain] == [("milk", "dairy", True)]
    assert options.shown(plain) == [] and options.extra_cents(plain) == 0
    oat = options.choose(latte, [("shot", "extra-shot"), ("milk", "oat")], currency)  # any order in, menu order out
    assert options.key(oat) == "milk=oat;shot=extra-shot" and options.extra_cents(oat) == 100
    assert options.parse_key(options.key(oat)) == [("milk", "oat"), ("shot", "extra-shot")]
    assert options.choose(latte, [("milk", "dairy")], currency) == plain  # saying the default is the default
    with pytest.raises(OrderError, match="choose at most 1 for Milk"):
        options.choose(latte, [("milk", "oat"), ("milk", "soy")], currency)
    with pytest.raises(OrderError, match=r"Caffè Latte has no option “caramel”\. Options: Milk: Dairy milk, Oat milk"):
        options.choose(latte, [("syrup", "caramel")], currency)
    with pytest.raises(OrderError, match="Please choose Eggs for Full Breakfast: Fried eggs, Scrambled eggs"):
        options.choose(breakfast, [], currency)
    assert options.choose(breakfast, [], currency, complete=False) == ()  # the page while still choosing


def test_the_agents_words_for_options_match_one_choice_or_are_refused() -> None:
    latte, currency = MENU.item("latte"), MENU.currency
    assert latte is not None
    assert options.match(latte, ["oat", "Oat milk", "Hafermilch", "milk=soy", "extra shot", "with almond milk"],
                         currency) == [("milk", "oat"), ("milk", "oat"), ("milk", "oat"), ("milk", "soy"),
                                       ("shot", "extra-shot"), ("milk", "almond")]
    with pytest.raises(OrderError, match="no option “caramel”"):
        options.match(latte, ["caramel"], currency)
    with pytest.raises(OrderError, match="could mean several options"):
        options.match(latte, ["oat or soy"], currency)


def test_a_german_reader_sees_translated_option_names_and_the_order_keeps_the_english_ones() -> None:
    latte = MENU.item("latte")
    assert latte is not None
    chosen = options.choose(latte, [("milk", "oat")], MENU.currency)
    line = CartLine(id=1, item_id="latte", size="small", quantity=2, name="Caffè Latte", unit_price_cents=390,
                    available=True, options=chosen, options_key=options.key(chosen))
    with use_locale(Catalogues(), "de"):
        german = cart_line(MENU, line)
    assert "Hafermilch +0,40\xa0€" in german and "7,80\xa0€" in german
    assert [o.name for o in chosen] == ["Oat milk"]  # what the order copies: the kitchen's language


# --- storage, on SQLite and PostgreSQL -------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An opened database with no migration applied yet."""
    if request.param == "sqlite":
        database = Database(tmp_path / "bot.db")
        await database.open()
        try:
            yield database
        finally:
            await database.close()
        return
    base = os.environ.get(TEST_DATABASE_URL) or DEFAULT_POSTGRES_URL
    why = postgres_reachable(base)
    if why is not None:
        pytest.skip(f"no PostgreSQL at {redact(base)}: {why}")
    with postgres_schema(base) as url:
        database = Database(url)
        await database.open()
        try:
            yield database
        finally:
            await database.close()


async def test_migration_0010_keeps_the_cart_and_makes_options_part_of_a_lines_key(fresh: Database) -> None:
    db = fresh
    async with db.transaction() as tx:  # the database as it was before 0010
        await tx.execute(db.backend.schema_migrations_ddl)
        for name, sql in migration_files(db.dialect):
            if name >= "0010":
                break
            for statement in _split_statements(sql):
                await tx.execute(statement)
            await tx.execute("INSERT INTO schema_migrations(name, applied_at) VALUES (?, 0)", (name,))
        await tx.execute("INSERT INTO cart_items(user_id, item_id, size, quantity, added_at) "
                         "VALUES (7, 'latte', 'small', 2, 1.0)")
    assert "0010_item_options.sql" in await db.migrate()

    repo = OrderRepository(db)
    [kept] = await repo.cart_rows(7)
    assert (kept["item_id"], kept["size"], kept["options"], kept["quantity"]) == ("latte", "small", "", 2)
    async with db.transaction() as tx:
        oat = await repo.add_cart_quantity(tx, 7, "latte", "small", 1, "milk=oat")
        assert oat != kept["id"]  # another line
        assert await repo.add_cart_quantity(tx, 7, "latte", "small", 1, "milk=oat") == oat  # the same line
        assert await repo.add_cart_quantity(tx, 7, "latte", "small", 1) == kept["id"]
    rows = [(r["options"], r["quantity"]) for r in await repo.cart_rows(7)]
    assert rows == [("", 3), ("milk=oat", 2)]
    async with db.transaction() as tx:  # ids go on after the kept ones
        assert await repo.add_cart_quantity(tx, 8, "mocha", "small", 1) > oat


async def test_an_ordered_items_options_are_stored_and_read_back(fresh: Database) -> None:
    db = fresh
    await db.migrate()
    latte = MENU.item("latte")
    assert latte is not None
    chosen = options.choose(latte, [("milk", "oat"), ("shot", "extra-shot")], MENU.currency)
    lines = [OrderLine("latte", "Caffè Latte", "large", 2, 510, 1020, chosen),
             OrderLine("espresso", "Espresso", "", 1, 240, 240)]
    repo = OrderRepository(db)
    async with db.transaction() as tx:
        order_id = await repo.insert_order(
            tx, business_day="2026-06-01", user_id=7, chat_id=7, customer_name="Ana", pickup="asap", note="",
            currency="EUR", menu_version="m1", source="buttons", checkout_token="t1", staff_chat_id=None,
            lines=lines, changed_by_name="Ana")
    order = await repo.get(order_id)
    assert order is not None and order.lines == lines and order.total_cents == 1260
    stored = json.loads(await db.fetchval("SELECT options_json FROM order_items WHERE item_id = 'latte'"))
    assert stored == [
        {"group": "milk", "choice": "oat", "name": "Oat milk", "price_cents": 40, "default": False},
        {"group": "shot", "choice": "extra-shot", "name": "Extra shot", "price_cents": 60, "default": False},
    ]
