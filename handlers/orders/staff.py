"""The staff side: the order card's buttons, /orders, /pause, /resume, /soldout and /back in the staff group.

Only staff (ADMIN_IDS or members of the staff group) may press; anyone else gets
an alert and the order does not change. A press moves the order in the database;
the card is edited in place and the customer told through the outbox.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import N_, _
from bot.orders import OrderError, OrderService, OrderStatus, texts
from bot.orders.availability import Availability
from bot.orders.models import can_transition
from bot.orders.pause import parse_pause
from bot.orders.tools import candidates
from bot.telegram.middlewares import reply_to_order_errors
from handlers.orders import keyboards
from handlers.orders.callbacks import AvailabilityCb, StaffBackCb, StaffCb, is_ordering_button
from handlers.orders.filters import InStaffChat, IsStaff
from handlers.orders.views import person, show

NOT_STAFF = N_("Only cafe staff can change orders.")  # also the menu's availability
NOT_STAFF_COMMAND = N_("Only cafe staff can use this command.")


async def on_staff_button(callback: CallbackQuery, callback_data: StaffCb, orders: OrderService) -> None:
    if callback_data.to is OrderStatus.CANCELLED and not callback_data.sure:
        order = await orders.get(callback_data.order)
        if order is None or not can_transition(order.status, OrderStatus.CANCELLED):
            raise OrderError(_("This order can't be cancelled now."))
        await _set_buttons(callback, keyboards.staff_confirm_cancel(order))
        await callback.answer(_("Cancel this order? Press again to confirm."))
        return
    order = await orders.transition(callback_data.order, callback_data.to, callback.from_user.id,
                                    person(callback.from_user))
    await callback.answer(_("Order {number}: {status}").format(number=order.number,
                                                                   status=texts.status_name(order.status)))


async def on_staff_back(callback: CallbackQuery, callback_data: StaffBackCb, orders: OrderService) -> None:
    order = await orders.get(callback_data.order)
    if order is None:
        raise OrderError(_("This order doesn't exist."))
    await _set_buttons(callback, keyboards.staff(order))
    await callback.answer()


async def _set_buttons(callback: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    if isinstance(callback.message, Message):
        try:
            await callback.message.edit_reply_markup(reply_markup=markup)
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                raise


async def on_not_staff(callback: CallbackQuery) -> None:
    await callback.answer(_(NOT_STAFF), show_alert=True)


async def on_stale_button(callback: CallbackQuery) -> None:
    """An ordering button whose data does not unpack: forged, or from an older version of the bot."""
    await callback.answer(_(texts.STALE_BUTTON), show_alert=True)


async def on_open_orders(message: Message, orders: OrderService) -> None:
    await message.answer(texts.open_orders(await orders.open_orders(), orders.today(), orders.closures_ahead()))


async def on_pause(message: Message, command: CommandObject, orders: OrderService) -> None:
    """/pause [minutes] [reason]: checkout refuses new orders (the agent's too) until it ends or /resume."""
    minutes, reason = parse_pause(command.args or "")
    by_id = message.from_user.id if message.from_user else None
    by_name = person(message.from_user) if message.from_user else _("an admin")
    pause = await orders.pause.pause(minutes, reason, by_id, by_name)
    await message.answer(texts.paused(orders.pause.ends_at(pause), pause.reason))


async def on_resume(message: Message, orders: OrderService) -> None:
    was_paused = await orders.pause.resume()
    await message.answer(_("▶️ Ordering is open again.") if was_paused else _("Ordering wasn't paused."))


async def on_soldout(message: Message, command: CommandObject, orders: OrderService,
                     availability: Availability) -> None:
    await _mark(message, command, orders, availability, available=False)


async def on_back(message: Message, command: CommandObject, orders: OrderService,
                  availability: Availability) -> None:
    await _mark(message, command, orders, availability, available=True)


async def _mark(message: Message, command: CommandObject, orders: OrderService, availability: Availability,
                available: bool) -> None:
    """By id, name or alias; several matches get a button each (AvailabilityCb), none a hint."""
    ref = (command.args or "").strip()
    if not ref:
        await message.answer(texts.sold_out_list(availability.sold_out(), command.command))
        return
    found = candidates(orders, ref)
    if not found:
        await message.answer(texts.no_such_item(ref))
    elif len(found) > 1:
        await message.answer(texts.pick_item(ref, available), reply_markup=keyboards.pick_item(found, available))
    else:
        done = await availability.mark(found[0].id, available, message.from_user.id if message.from_user else None)
        await message.answer(texts.marked(done.item, available, done.forgotten))


async def on_availability_button(callback: CallbackQuery, callback_data: AvailabilityCb,
                                 availability: Availability) -> None:
    try:
        done = await availability.mark(callback_data.item, callback_data.available, callback.from_user.id)
    except KeyError:
        raise OrderError(_("That item isn't on our menu any more.")) from None
    await show(callback, texts.marked(done.item, callback_data.available, done.forgotten), None)


async def on_staff_command_refused(message: Message) -> None:
    await message.answer(_(NOT_STAFF_COMMAND))


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(on_staff_button, StaffCb.filter(), IsStaff())
    router.callback_query.register(on_staff_back, StaffBackCb.filter(), IsStaff())
    router.callback_query.register(on_not_staff, StaffCb.filter())
    router.callback_query.register(on_not_staff, StaffBackCb.filter())
    router.message.register(on_open_orders, Command("orders"), InStaffChat(), IsStaff())
    router.message.register(on_pause, Command("pause"), InStaffChat(), IsStaff())
    router.message.register(on_resume, Command("resume"), InStaffChat(), IsStaff())
    router.message.register(on_soldout, Command("soldout"), InStaffChat(), IsStaff())
    router.message.register(on_back, Command("back"), InStaffChat(), IsStaff())
    router.message.register(on_staff_command_refused, Command("pause", "resume", "soldout", "back"), InStaffChat())
    router.callback_query.register(on_availability_button, AvailabilityCb.filter(), IsStaff())
    router.callback_query.register(on_not_staff, AvailabilityCb.filter())
    router.callback_query.register(on_stale_button, F.data.func(is_ordering_button))
    return reply_to_order_errors(router)
