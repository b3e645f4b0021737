"""/menu: browse categories and items with inline buttons, choose size and quantity, add to the cart."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, current_locale, price
from bot.orders import OrderError, OrderService, texts
from bot.telegram.middlewares import reply_to_order_errors
from handlers.orders import keyboards
from handlers.orders.callbacks import AddCb, MenuCb
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
    await show(callback, texts.item_page(menu, item, size, callback_data.qty),
               keyboards.item(menu, item, size, callback_data.qty))


async def on_add(callback: CallbackQuery, callback_data: AddCb, orders: OrderService) -> None:
    line, cart = await orders.add_to_cart(callback.from_user.id, callback_data.item, callback_data.size or None,
                                          callback_data.qty)
    item = orders.menu.item(line.item_id)
    name = item.name_in(current_locale()) if item is not None else line.name
    text = texts.added(callback_data.qty, texts.line_label(name, line.size), cart.units,
                       price(cart.total_cents, orders.menu.currency))
    await show(callback, text, keyboards.after_add(), notice=_("Added to your cart"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_menu, Command("menu"), F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(on_browse, MenuCb.filter())
    router.callback_query.register(on_add, AddCb.filter())
    return reply_to_order_errors(router)
