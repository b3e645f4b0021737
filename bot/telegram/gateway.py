"""The domain's Bot API calls: the outbox's sends and edits, the staff directory's membership checks.

`BotGateway` implements the protocols the domain declares (`bot.outbox.Sender`,
`bot.orders.Membership`), on the bot once the application has made it (`bot` is a getter:
the services are wired before the bot exists, and with Telegram bypassed it never does).
`classify` turns a failed call into what it means for an outbox row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup

from bot.outbox.errors import DeliveryError, Outcome, Verdict, short
from bot.outbox.service import Outgoing
from bot.telegram.session import OUTBOX_DELIVERY

MEMBER_STATUSES = {"creator", "administrator", "member"}
MEMBERSHIP_TIMEOUT_SECONDS = 10

_NOT_MODIFIED = "message is not modified"
_EDIT_TARGET_GONE = ("message to edit not found", "message_id_invalid", "message can't be edited")


class BotGateway:
    def __init__(self, bot: Callable[[], Bot | None]) -> None:
        self._bot = bot

    def ready(self) -> bool:
        """False until the bot exists (or never, with Telegram bypassed): outbox rows stay pending."""
        return self._bot() is not None

    async def send(self, out: Outgoing, timeout: int) -> int:
        """Send or edit one message; its message id, or a DeliveryError saying what the failure means."""
        bot = self._bot()
        if bot is None:
            raise DeliveryError(Outcome(Verdict.RETRY, "the bot is not connected"))
        token = OUTBOX_DELIVERY.set(True)  # a 429 comes back to the outbox (pause the chat), not waited out here
        try:
            return await self._call(bot, out, timeout)
        except Exception as exc:
            raise DeliveryError(classify(exc)) from exc
        finally:
            OUTBOX_DELIVERY.reset(token)

    @staticmethod
    async def _call(bot: Bot, out: Outgoing, timeout: int) -> int:
        markup = InlineKeyboardMarkup.model_validate(out.reply_markup) if out.reply_markup else None
        if out.edit_message_id is not None:
            await bot.edit_message_text(text=out.text, chat_id=out.chat_id, message_id=out.edit_message_id,
                                        reply_markup=markup, request_timeout=timeout)
            return out.edit_message_id
        message = await bot.send_message(out.chat_id, out.text, reply_markup=markup, request_timeout=timeout)
        return message.message_id

    async def is_member(self, chat_id: int, user_id: int) -> bool | None:
        """Whether the user is in the chat (getChatMember); None without a bot. A failed call raises."""
        bot = self._bot()
        if bot is None:
            return None
        member = await bot.get_chat_member(chat_id, user_id, request_timeout=MEMBERSHIP_TIMEOUT_SECONDS)
        return member.status in MEMBER_STATUSES or (
            member.status == "restricted" and bool(getattr(member, "is_member", False))
        )


def classify(exc: BaseException) -> Outcome:
    """What a failed Bot API call means for an outbox row.

    Only errors that no retry can fix are permanent; flood control, 5xx, network trouble,
    even a rejected token that an operator will fix keep the message pending.
    """
    reason = short(exc)
    if isinstance(exc, TelegramRetryAfter):
        return Outcome(Verdict.WAIT, reason, float(exc.retry_after))
    if isinstance(exc, TelegramMigrateToChat):
        return Outcome(Verdict.FAILED, f"the group became supergroup {exc.migrate_to_chat_id}: "
                                       f"set STAFF_CHAT_ID={exc.migrate_to_chat_id}")
    if isinstance(exc, TelegramEntityTooLarge):
        return Outcome(Verdict.FAILED, reason)
    if isinstance(exc, TelegramNetworkError | TelegramUnauthorizedError | ClientDecodeError):
        return Outcome(Verdict.RETRY, reason)
    if isinstance(exc, TelegramForbiddenError):  # blocked by the user, kicked from the group
        return Outcome(Verdict.FAILED, reason)
    if isinstance(exc, TelegramBadRequest):
        text = exc.message.lower()
        if _NOT_MODIFIED in text:
            return Outcome(Verdict.DELIVERED, reason)
        if any(s in text for s in _EDIT_TARGET_GONE):
            return Outcome(Verdict.RESEND, reason)
        return Outcome(Verdict.FAILED, reason)  # chat not found, can't parse entities, ...
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError | OSError):
        return Outcome(Verdict.RETRY, reason)
    # 5xx (TelegramServerError), 404 from a wrong API URL, 409, and anything unexpected.
    return Outcome(Verdict.RETRY, reason)
