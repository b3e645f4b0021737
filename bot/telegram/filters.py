"""Reusable aiogram filters; settings arrive by dependency injection."""

from __future__ import annotations

from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message

from bot.config import Settings


class IsAdmin(BaseFilter):
    """Passes only for users listed in ADMIN_IDS."""

    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        user = event.from_user
        return user is not None and user.id in settings.admin_ids


class IsNotAdmin(BaseFilter):
    """The complement of IsAdmin, for the short refusal non-admins get."""

    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        user = event.from_user
        return user is None or user.id not in settings.admin_ids
