"""/cart and checkout: change quantities, choose a pickup time, add a note, confirm; cancel before it's accepted.

The checkout lives in the database (table `checkouts`), not in memory: after a
restart the customer's next answer (a time, a note) or button press continues it.
Buttons carry the checkout's token, so a summary's Confirm button only places the
order that summary showed.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.i18n import _
from bot.orders import Cart, Checkout, OrderService, OrderStatus, texts
from bot.orders.payments import Payments
from bot.telegram.middlewares import ActiveCheckoutMiddleware, reply_to_order_errors
from handlers.orders import keyboards
from handlers.orders.callbacks import CartCb, CheckoutCb, CustomerOrderCb, RepeatCb
from handlers.orders.filters import CheckoutStep
from handlers.orders.payments import send_invoice
from handlers.orders.views import person, show


async def on_cart(message: Message, orders: OrderService) -> None:
    assert message.from_user is not None
    cart = await orders.cart(message.from_user.id)
    await message.answer(texts.cart_page(orders.menu, cart), reply_markup=keyboards.cart(cart))


async def on_my_orders(message: Message, orders: OrderService) -> None:
    assert message.from_user is not None
    mine = await orders.orders_of(message.from_user.id)
    await message.answer(texts.my_orders(mine), reply_markup=keyboards.my_orders(mine))


async def on_repeat_button(callback: CallbackQuery, callback_data: RepeatCb, orders: OrderService) -> None:
    """The past order's lines into the cart, then the cart page; another customer's order is refused (an alert)."""
    repeat = await orders.repeat_order(callback.from_user.id, callback_data.order)
    await show(callback, texts.repeated(orders.menu, repeat) + "\n\n" + texts.cart_page(orders.menu, repeat.cart),
               keyboards.cart(repeat.cart))


async def on_cart_button(callback: CallbackQuery, callback_data: CartCb, orders: OrderService) -> None:
    user_id = callback.from_user.id
    action = callback_data.action
    if action == "checkout":
        chat_id = callback.message.chat.id if callback.message else user_id
        checkout, cart = await orders.start_checkout(user_id, chat_id)
        await _ask_pickup(callback, orders, checkout.token, cart)
        return
    if action == "inc":
        cart = await orders.change_quantity(user_id, callback_data.line, +1)
    elif action == "dec":
        cart = await orders.change_quantity(user_id, callback_data.line, -1)
    elif action == "rm":
        cart = await orders.remove_line(user_id, callback_data.line)
    elif action == "clear":
        await orders.clear_cart(user_id)
        cart = await orders.cart(user_id)
    else:
        cart = await orders.cart(user_id)
    await show(callback, texts.cart_page(orders.menu, cart), keyboards.cart(cart))


async def _ask_pickup(callback: CallbackQuery, orders: OrderService, token: str, cart: Cart) -> None:
    times, open_now = orders.pickup_choices()
    later = orders.preorder_choices()
    await show(callback, texts.ask_pickup(orders.menu, cart, later), keyboards.pickup(token, times, open_now, later))


async def on_checkout_button(callback: CallbackQuery, callback_data: CheckoutCb, orders: OrderService,
                             payments: Payments, settings: Settings, bot: Bot) -> None:
    user_id, token, action = callback.from_user.id, callback_data.token, callback_data.action
    if action == "time":
        value = callback_data.value
        if "T" in value:  # a later day's slot: YYYYMMDDTHHMM
            value = f"{value[:4]}-{value[4:6]}-{value[6:8]} {value[9:11]}:{value[11:]}"
        elif value != "asap":
            value = f"{value[:2]}:{value[2:]}"
        checkout = await orders.set_pickup(user_id, token, value)
        await show(callback, texts.ask_note(checkout.pickup or "asap", orders.today()), keyboards.note(token))
    elif action == "skip":
        summary = await orders.set_note(user_id, token, None)
        await show(callback, texts.summary_page(orders.menu, summary, orders.today()), keyboards.summary(token))
    elif action == "confirm":
        order, created = await orders.confirm(user_id, token)
        await show(callback, texts.placed(order, orders.today()), keyboards.customer_order(order),
                   notice=None if created else _("Order {number} was already placed.").format(number=order.number))
        if order.awaiting_payment and order.status is OrderStatus.NEW:  # paying in the chat: the invoice follows
            await send_invoice(bot, order, payments, settings)
    elif action == "edit":
        await orders.cancel_checkout(user_id, token)
        cart = await orders.cart(user_id)
        await show(callback, texts.cart_page(orders.menu, cart), keyboards.cart(cart))
    else:  # cancel
        await orders.cancel_checkout(user_id, token)
        cart = await orders.cart(user_id)
        await show(callback, _("Checkout cancelled; your cart is kept.") + "\n\n" + texts.cart_page(orders.menu, cart),
                   keyboards.cart(cart))


async def on_customer_order_button(callback: CallbackQuery, callback_data: CustomerOrderCb,
                                   orders: OrderService) -> None:
    """Cancel asks once more; a refusal (accepted meanwhile, not theirs) is an alert from the error middleware."""
    user_id, action = callback.from_user.id, callback_data.action
    if action == "sure":
        order = await orders.cancel_by_customer(user_id, callback_data.order, person(callback.from_user))
        await show(callback, texts.cancelled_by_customer(order), None,
                   notice=_("Order {number} cancelled.").format(number=order.number))
        return
    order = await orders.customer_order(user_id, callback_data.order)
    if action == "cancel" and order.status is OrderStatus.NEW:
        await show(callback, texts.placed(order, orders.today()), keyboards.customer_confirm_cancel(order),
                   notice=_("Cancel order {number}? Press again to confirm.").format(number=order.number))
    elif action == "cancel":
        # the button outlived the order's NEW state: take it away and say why
        await show(callback, texts.placed(order, orders.today()), None,
                   notice=texts.too_late_to_cancel(order, orders.cafe.phone), alert=True)
    else:  # keep
        await show(callback, texts.placed(order, orders.today()), keyboards.customer_order(order))


async def on_pickup_text(message: Message, checkout: Checkout, orders: OrderService) -> None:
    assert message.from_user is not None and message.text is not None
    updated = await orders.set_pickup(message.from_user.id, checkout.token, message.text)
    await message.answer(texts.ask_note(updated.pickup or "asap", orders.today()),
                         reply_markup=keyboards.note(checkout.token))


async def on_note_text(message: Message, checkout: Checkout, orders: OrderService) -> None:
    assert message.from_user is not None
    summary = await orders.set_note(message.from_user.id, checkout.token, message.text)
    await message.answer(texts.summary_page(orders.menu, summary, orders.today()),
                         reply_markup=keyboards.summary(checkout.token))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.outer_middleware(ActiveCheckoutMiddleware())  # read once for both checkout steps below
    private = F.chat.type == ChatType.PRIVATE
    router.message.register(on_cart, Command("cart"), private)
    router.message.register(on_my_orders, Command("orders"), private)
    router.message.register(on_pickup_text, CheckoutStep("pickup"))
    router.message.register(on_note_text, CheckoutStep("note"))
    router.callback_query.register(on_cart_button, CartCb.filter())
    router.callback_query.register(on_checkout_button, CheckoutCb.filter())
    router.callback_query.register(on_customer_order_button, CustomerOrderCb.filter())
    router.callback_query.register(on_repeat_button, RepeatCb.filter())
    return reply_to_order_errors(router)
