"""Showing an ordering page in answer to a button: edit the pressed message in place."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, User


async def show(callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None,
               notice: str | None = None, alert: bool = False) -> None:
    """Edit the message the button sits on (or send a new one if it can't be edited), then answer the press.

    `alert`: the notice is something the presser must read (a refusal), not a passing toast.
    """
    message = callback.message
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as exc:
            if "message is not modified" not in exc.message:
                await message.answer(text, reply_markup=markup)
    elif callback.bot is not None:
        await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup)
    await callback.answer(notice, show_alert=alert or None)


def person(user: User) -> str:
    """How a customer or staff member is named on the staff card and in the status history."""
    name = user.first_name or f"user {user.id}"
    return f"{name} (@{user.username})" if user.username else name
