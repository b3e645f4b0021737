"""An ordering refusal that names a hostile menu item still reaches the customer, as written, without markup."""

from __future__ import annotations

from pathlib import Path

import yaml

from handlers.errors import SORRY
from testkit import ROOT
from testkit.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import answer_after, order_settings, press

# Unbalanced tags, an ampersand, quotes and a link: each would break or inject HTML if sent unescaped.
HOSTILE = 'Flat <white> & "Co" <b>bold <a href="https://evil.example">deal</a>'


def menu_with(tmp_path: Path, *, available: bool) -> Path:
    """The shipped menu with flat-white renamed to HOSTILE (and sold out when not `available`)."""
    menu = yaml.safe_load((ROOT / "data" / "menu.yaml").read_text(encoding="utf-8"))
    for category in menu["categories"]:
        for item in category["items"]:
            if item["id"] == "flat-white":
                item["name"] = HOSTILE
                item["available"] = available
    path = tmp_path / "menu.yaml"
    path.write_text(yaml.safe_dump(menu, allow_unicode=True), encoding="utf-8")
    return path


async def latest(telegram: FakeTelegram, contains: str) -> SentMessage:
    return await telegram.wait_for(
        lambda: next((m for m in reversed(telegram.sent_to(CUSTOMER_ID)) if contains in m.text), None))


async def test_an_order_error_naming_a_hostile_item_is_escaped_in_a_reply_and_plain_in_an_alert(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url, menu_path=menu_with(tmp_path, available=True))
    async with running_app(settings) as app:
        await app.services.orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await latest(telegram, "Your cart")
        assert HOSTILE in page.text
        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await telegram.wait_for(lambda: "When will you pick it up" in page.text)
        telegram.send_text(CUSTOMER_ID, "asap")
        await latest(telegram, "Anything we should know")

        menu_with(tmp_path, available=False)  # sold out while the customer is at the note step
        assert (await app.services.knowledge.reload()).ok
        telegram.send_text(CUSTOMER_ID, "no sugar")  # a text reply: the refusal is a message in HTML mode
        refusal = await latest(telegram, "from your /cart first")

        telegram.send_text(CUSTOMER_ID, "/menu")  # a button: the refusal is an alert, never parsed as HTML
        home = await latest(telegram, "Pick a category")
        index = len(telegram.callback_answers)
        telegram.send_callback(CUSTOMER_ID, "oa:flat-white:small:1", home)
        alert = await answer_after(telegram, index)

    # What the customer reads is the name exactly as the menu has it: no tag was interpreted, none lost.
    assert refusal.text == f"Please remove {HOSTILE} from your /cart first: sold out or no longer on the menu."
    assert SORRY not in telegram.texts_to(CUSTOMER_ID)
    assert alert["text"] == f"Sorry, {HOSTILE} is sold out today." and alert["show_alert"] is True

