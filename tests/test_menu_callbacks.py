"""Menu ids and size names are checked at load against what button callback data can carry (64 bytes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiogram.types import InlineKeyboardMarkup

from bot.knowledge.loader import DataFileError, load_menu
from bot.knowledge.models import MAX_ID_CHARS, MAX_SIZE_CHARS, Menu
from bot.orders.models import MAX_LINE_QUANTITY
from handlers.orders import keyboards
from handlers.orders.callbacks import AddCb, CartCb, MenuCb
from testkit import ROOT
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import ADMIN_ID, make_settings
from tests.helpers import CUSTOMER_ID, running_app

MENU = ROOT / "data" / "menu.yaml"
TELEGRAM_CALLBACK_DATA_BYTES = 64
AMERICANO_SIZES = "sizes: {small: 2.90, large: 3.40}"


def every_callback(markup: InlineKeyboardMarkup) -> list[str]:
    return [button.callback_data for row in markup.inline_keyboard for button in row if button.callback_data]


def every_menu_keyboard(menu: Menu) -> list[InlineKeyboardMarkup]:
    """Each keyboard /menu can show, with each size and the largest quantity (the longest callback data)."""
    boards = [keyboards.menu_home(menu)] + [keyboards.category(menu, c) for c in menu.categories]
    for item in menu.items():
        for size in list(item.sizes) or [""]:
            boards.append(keyboards.item(menu, item, size, MAX_LINE_QUANTITY))
    return boards


def test_the_longest_id_and_size_the_loader_accepts_fit_in_every_menu_button(tmp_path: Path) -> None:
    longest_id, longest_size = "a" * (MAX_ID_CHARS - 2) + "-z", "extra large" + "x" * (MAX_SIZE_CHARS - 11)
    text = MENU.read_text(encoding="utf-8")
    text = text.replace("id: americano", f"id: {longest_id}", 1).replace("- id: coffee", f"- id: {longest_id}", 1)
    text = text.replace(AMERICANO_SIZES, f"sizes: {{small: 2.90, {longest_size}: 3.40}}", 1)
    edited = tmp_path / "menu.yaml"
    edited.write_text(text, encoding="utf-8")
    menu, _ = load_menu(edited)  # accepted: both at the limit
    assert menu.item(longest_id) is not None and longest_size in menu.item(longest_id).sizes

    packed = [data for board in every_menu_keyboard(menu) for data in every_callback(board)]
    longest = max(packed, key=lambda data: len(data.encode()))
    assert len(longest.encode()) <= TELEGRAM_CALLBACK_DATA_BYTES, longest
    assert longest == f"om:item:{longest_id}:{longest_size}:{MAX_LINE_QUANTITY}"  # the one the limits are set for
    # Each button's data unpacks to what was packed (no field was cut at a separator).
    item_press = MenuCb.unpack(longest)
    assert (item_press.ref, item_press.size, item_press.qty) == (longest_id, longest_size, MAX_LINE_QUANTITY)
    add_press = AddCb.unpack(AddCb(item=longest_id, size=longest_size, qty=MAX_LINE_QUANTITY).pack())
    assert (add_press.item, add_press.size) == (longest_id, longest_size)
    assert CartCb.unpack(CartCb(action="view").pack()).action == "view"


def test_every_button_of_the_shipped_menu_fits() -> None:
    menu, _ = load_menu(MENU)
    packed = [data for board in every_menu_keyboard(menu) for data in every_callback(board)]
    assert packed and max(len(data.encode()) for data in packed) <= TELEGRAM_CALLBACK_DATA_BYTES


@pytest.mark.parametrize(
    ("edit", "field", "line_text", "says"),
    [
        (("id: flat-white", "id: flat:white"), "categories[0].items[3].id", "id: flat:white", "':'"),
        (("id: flat-white", "id: flat white"), "categories[0].items[3].id", "id: flat white", "lowercase"),
        (("id: flat-white", "id: " + "flat-white-" * 3), "categories[0].items[3].id", "id: flat-white-flat",
         f"at most {MAX_ID_CHARS}"),
        (("- id: coffee", "- id: coffee:bar"), "categories[0].id", "- id: coffee:bar", "':'"),
        ((AMERICANO_SIZES, "sizes: {small: 2.90, 'large:xl': 3.40}"), "categories[0].items[1].sizes",
         "'large:xl'", "size 'large:xl'"),
        ((AMERICANO_SIZES, "sizes: {small: 2.90, large (16 oz): 3.40}"), "categories[0].items[1].sizes",
         "large (16 oz)", "letters, digits"),
        ((AMERICANO_SIZES, "sizes: {small: 2.90, groß: 3.40}"), "categories[0].items[1].sizes", "groß", "groß"),
        ((AMERICANO_SIZES, "sizes: {small: 2.90, extra large to go cup: 3.40}"), "categories[0].items[1].sizes",
         "extra large to go", f"at most {MAX_SIZE_CHARS}"),
    ],
)
def test_ids_and_sizes_buttons_cannot_carry_are_refused_naming_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], field: str, line_text: str, says: str
) -> None:
    bad = tmp_path / "menu.yaml"
    text = MENU.read_text(encoding="utf-8").replace(*edit, 1)
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        load_menu(bad)
    error = info.value
    assert error.field == field and says in str(error), str(error)
    assert str(bad) in str(error) and f"line {error.line}" in str(error)
    assert error.line is not None and line_text in text.splitlines()[error.line - 1]


async def test_a_reload_with_a_size_buttons_cannot_carry_is_refused_and_menu_keeps_working(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    menu_path = tmp_path / "menu.yaml"
    shutil.copy(MENU, menu_path)
    settings = make_settings(tmp_path, telegram.url, menu_path=menu_path)
    async with running_app(settings) as app:
        menu_path.write_text(MENU.read_text().replace(AMERICANO_SIZES, "sizes: {small: 2.90, 'large:16oz': 3.40}"))
        telegram.send_text(ADMIN_ID, "/reload_menu")
        [reply] = await telegram.wait_for_messages(ADMIN_ID)
        telegram.send_text(CUSTOMER_ID, "/menu")
        [menu_page] = await telegram.wait_for_messages(CUSTOMER_ID)
        sizes = app.services.knowledge.menu.item("americano").sizes
    assert "Kept the last good data" in reply.text and "menu.yaml line 19" in reply.text
    assert "large:16oz" in reply.text
    assert "Pick a category" in menu_page.text and menu_page.buttons()
    assert list(sizes) == ["small", "large"]


def test_orders_offers_repeat_for_the_three_newest_orders_with_lines() -> None:
    from bot.orders.models import Order, OrderLine, OrderStatus
    from handlers.orders.callbacks import RepeatCb

    def order(seq: int, lines: int = 1) -> Order:
        return Order(id=100 + seq, business_day="2026-11-30", day_seq=seq, user_id=CUSTOMER_ID, chat_id=CUSTOMER_ID,
                     customer_name="A", status=OrderStatus.COMPLETED, pickup="asap", note="", currency="EUR",
                     total_cents=240, menu_version="v", source="buttons", staff_chat_id=None, staff_message_id=None,
                     created_at=0.0, updated_at=0.0,
                     lines=[OrderLine("espresso", "Espresso", "", 1, 240, 240)] * lines)

    markup = keyboards.my_orders([order(5), order(4, lines=0), order(3), order(2), order(1)])
    assert markup is not None
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert [b.text for b in buttons] == ["🔁 Repeat #005", "🔁 Repeat #003", "🔁 Repeat #002"]
    assert [RepeatCb.unpack(b.callback_data or "").order for b in buttons] == [105, 103, 102]
    assert keyboards.my_orders([]) is None
