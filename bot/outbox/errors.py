"""What a failed Bot API call means for an outbox row: retry, wait, resend or give up.

Only errors that no retry can fix are permanent (the chat does not exist, the bot
was blocked or removed, the text is malformed); everything else — flood control,
5xx, network trouble, even a rejected token that an operator will fix — keeps the
message pending, so nothing is lost while Telegram or the configuration is wrong.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum

import aiohttp
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


class Verdict(Enum):
    DELIVERED = "delivered"  # e.g. "message is not modified": the chat already shows this
    RETRY = "retry"  # transient: back off and try again
    WAIT = "wait"  # flood control: try again after exactly `delay` seconds
    RESEND = "resend"  # the message to edit is gone: send a fresh one instead
    FAILED = "failed"  # permanent: log it, count it, stop trying


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    delay: float | None = None


_NOT_MODIFIED = "message is not modified"
_EDIT_TARGET_GONE = ("message to edit not found", "message_id_invalid", "message can't be edited")


def classify(exc: BaseException) -> Outcome:
    reason = _short(exc)
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


def _short(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    first = str(message).splitlines()[0]
    return f"{type(exc).__name__}: {first}"[:300]
