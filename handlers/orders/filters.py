"""Filters for the ordering routers: who is staff, where the staff chat is, which checkout step."""

from __future__ import annotations

from typing import Any

from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.orders.models import Checkout
from bot.orders.staff import StaffDirectory


class IsStaff(BaseFilter):
    """ADMIN_IDS or a member of the staff group (getChatMember, cached briefly)."""

    async def __call__(self, event: Message | CallbackQuery, staff: StaffDirectory, settings: Settings) -> bool:
        if isinstance(event, Message) and event.sender_chat is not None:
            return event.sender_chat.id == settings.staff_chat_id  # an anonymous admin of the staff group
        user = event.from_user
        return user is not None and await staff.is_staff(user.id)


class InStaffChat(BaseFilter):
    async def __call__(self, message: Message, settings: Settings) -> bool:
        return settings.staff_chat_id is not None and message.chat.id == settings.staff_chat_id


class CheckoutStep(BaseFilter):
    """A plain text message in private while the customer's checkout waits for this step's answer.

    The checkout is read once per message by `ActiveCheckoutMiddleware` on the same router.
    """

    def __init__(self, step: str) -> None:
        self.step = step

    async def __call__(self, message: Message, active_checkout: Checkout | None) -> bool | dict[str, Any]:
        if active_checkout is None or active_checkout.step != self.step:
            return False
        return {"checkout": active_checkout}
