"""/menu: browse categories and items with inline buttons, choose size, options and quantity, add to the cart.

An item with options (menu.yaml `options`) gets an options page whose every button carries the whole
state (`OptionsCb`: size, quantity, chosen choices, the menu version); the service checks the choices
when the page is drawn and again, completely (required groups chosen), when the item is added.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, current_locale, price
from bot.knowledge import MenuItem
from bot.orders import Cart, CartLine, OrderError, OrderService, texts
from bot.orders import options as item_options
from bot.telegram.middlewares import reply_to_order_errors
from handlers.orders import keyboards
from handlers.orders.callbacks import AddCb, MenuCb, OptionsCb, menu_tag, unpack_choices
from handlers.orders.views import show


async def on_menu(message: Message, orders: OrderService) -> None:
    await message.answer(texts.menu_home(), reply_markup=keyboards.menu_home(orders.menu))


async def on_browse(callback: CallbackQuery, callback_data: MenuCb, orders: OrderService) -> None:
    menu = orders.menu
    if callback_data.view == "cats":
        await show(callback, texts.menu_home(), keyboards.menu_home(menu))
        return
    if callback_data.view == "cat":
        category = menu.category(callback_data.ref)
        if category is None:
            raise OrderError(_("That part of the menu is gone. Here is the current /menu."))
        await show(callback, texts.category_page(menu, category), keyboards.category(menu, category))
        return
    item = menu.item(callback_data.ref)
    if item is None:
        raise OrderError(_("That item isn't on our menu any more."))
    size = callback_data.size if callback_data.size in item.sizes else (item.default_size or "")
    await _item(callback, orders, item, size, callback_data.qty)


async def _item(callback: CallbackQuery, orders: OrderService, item: MenuItem, size: str, quantity: int,
                picked: list[tuple[str, str]] | None = None, notice: str | None = None) -> None:
    """The item's page; with options, `picked` (None: the defaults) is checked and priced first."""
    menu = orders.menu
    if picked is None:
        picked = [(g.id, d) for g in item.options for d in g.default]
    chosen = item_options.choose(item, picked, menu.currency, complete=False)  # over a group's max: refused
    await show(callback, texts.item_page(menu, item, size, quantity, chosen),
               keyboards.item(menu, item, size, quantity, set(picked)), notice=notice, alert=notice is not None)


async def on_options(callback: CallbackQuery, callback_data: OptionsCb, orders: OrderService) -> None:
    """A press on an options page: show the new state, or add it to the cart (required groups must be chosen)."""
    menu = orders.menu
    item = menu.item(callback_data.item)
    if item is None:
        raise OrderError(_("That item isn't on our menu any more."))
    sizes = list(item.sizes)
    if callback_data.ver != menu_tag(menu) or not item.options or callback_data.size >= max(1, len(sizes)):
        # a page drawn from another menu: its numbers may mean other choices now, so nothing is taken from it
        await _item(callback, orders, item, item.default_size or "", 1,
                    notice=_("Our menu has changed since this page. Here is the item as it is now."))
        return
    size = sizes[callback_data.size] if sizes else ""
    picked = unpack_choices(item, callback_data.sel)
    if not callback_data.add:
        await _item(callback, orders, item, size, callback_data.qty, picked)
        return
    line, cart = await orders.add_to_cart(callback.from_user.id, item.id, size or None, callback_data.qty, picked)
    await _added(callback, orders, line, cart, callback_data.qty)


async def on_add(callback: CallbackQuery, callback_data: AddCb, orders: OrderService) -> None:
    line, cart = await orders.add_to_cart(callback.from_user.id, callback_data.item, callback_data.size or None,
                                          callback_data.qty)
    await _added(callback, orders, line, cart, callback_data.qty)


async def _added(callback: CallbackQuery, orders: OrderService, line: CartLine, cart: Cart, quantity: int) -> None:
    item = orders.menu.item(line.item_id)
    name = item.name_in(current_locale()) if item is not None else line.name
    label = texts.line_label(name, line.size) + texts.options_suffix(orders.menu.currency, line.options, item)
    text = texts.added(quantity, label, cart.units, price(cart.total_cents, orders.menu.currency))
    await show(callback, text, keyboards.after_add(), notice=_("Added to your cart"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_menu, Command("menu"), F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(on_browse, MenuCb.filter())
    router.callback_query.register(on_add, AddCb.filter())
    router.callback_query.register(on_options, OptionsCb.filter())
    return reply_to_order_errors(router)
