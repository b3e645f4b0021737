"""Cross-cutting work done for every update, outside the handlers.

The dispatcher's outer middlewares run in this order (`bot.app.build_dispatcher`):
`UpdateContextMiddleware` (in-flight tracking, metrics, the one log line), then
`RateLimitMiddleware` (the per-user limit, before anything costs a database write, a
download or a model call), then `ProfileMiddleware` (the profile write), then the routers.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Chat, TelegramObject, Update

from bot.cache.profiles import ProfileCache
from bot.config import Settings
from bot.inflight import InflightTracker
from bot.logging_setup import kv
from bot.metrics import Metrics
from bot.ratelimit import SlidingWindowLimiter

log = logging.getLogger("bot.updates")

THROTTLED = "throttled"  # set in the handler data when the rate limit dropped the update (for the log line)
TOO_FAST = "You're sending messages faster than I can answer 🙂 Please wait {wait} seconds, then ask again."
TOO_MANY_PRESSES = "That's a lot of button presses 🙂 Please wait {wait} seconds."

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def update_kind(update: Update) -> str:
    """A short label for logs and metrics: text, command, voice, callback, ..."""
    if update.message is not None:
        message = update.message
        if message.text is not None:
            return "command" if message.text.startswith("/") else "text"
        for kind in ("voice", "audio", "video_note", "photo", "document", "sticker", "video", "location"):
            if getattr(message, kind, None):
                return kind
        return "message"
    if update.callback_query is not None:
        return "callback"
    return update.event_type


class UpdateContextMiddleware(BaseMiddleware):
    """Outer middleware on every update: in-flight tracking, metrics, one log line."""

    def __init__(self, metrics: Metrics, inflight: InflightTracker) -> None:
        self._metrics = metrics
        self._inflight = inflight

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        kind = update_kind(event)
        user = data.get("event_from_user")
        self._inflight.enter(event.update_id)
        self._metrics.inflight.inc()
        started = time.perf_counter()
        status = "ok"
        try:
            result = await handler(event, data)
            if data.get(THROTTLED):
                status = "throttled"
            return result
        except Exception:
            status = "error"
            self._metrics.update_errors.labels(kind).inc()
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.updates.labels(kind).inc()
            self._metrics.update_latency.labels(kind).observe(elapsed)
            self._metrics.inflight.dec()
            self._inflight.leave()
            log.info(
                "update %s",
                kv(id=event.update_id, user=user.id if user else "-", kind=kind,
                   latency_ms=round(elapsed * 1000, 1), status=status),
                extra={"fields": {"update_id": event.update_id, "user_id": user.id if user else None,
                                  "kind": kind, "latency_ms": round(elapsed * 1000, 1), "status": status}},
            )


class RateLimitMiddleware(BaseMiddleware):
    """Outer middleware: the per-user rate limit, for every kind of update, before any other work.

    Two sliding windows per user (RATE_LIMIT_WINDOW_SECONDS): RATE_LIMIT_MESSAGES for
    everything a user sends (text of any length, commands, media, voice notes) and
    RATE_LIMIT_BUTTONS for button presses, which come faster in normal use (browsing the
    menu is several presses in a few seconds). Over the limit the update is dropped: a
    private chat gets one polite notice per burst, never one per message (each notice is
    a message that counts against Telegram's limits too); a button press is always
    answered, with a short toast, so the customer's button stops spinning.

    Admins (ADMIN_IDS) and everything in the staff group (STAFF_CHAT_ID: order buttons and
    /orders) are exempt: staff pressing through a rush of orders must never be locked out,
    and only staff can post or press there. Staff in a private chat with the bot are
    customers like anyone. The windows live in this process's memory, so the limit holds
    whatever Redis does.
    """

    def __init__(self, settings: Settings, metrics: Metrics | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
        window = settings.rate_limit_window_seconds
        self.messages = SlidingWindowLimiter(settings.rate_limit_messages, window, **kwargs)
        self.buttons = SlidingWindowLimiter(settings.rate_limit_buttons, window, **kwargs)
        self._admins = settings.admin_ids
        self._staff_chat = settings.staff_chat_id
        self._metrics = metrics

    def exempt(self, user_id: int, chat: Chat | None) -> bool:
        return user_id in self._admins or (chat is not None and chat.id == self._staff_chat)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        user = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or self.exempt(user.id, chat):
            return await handler(event, data)
        query = event.callback_query
        limiter = self.buttons if query is not None else self.messages
        decision = limiter.check(user.id)
        if decision.allowed:
            return await handler(event, data)

        data[THROTTLED] = True
        kind = update_kind(event)
        if self._metrics is not None:
            self._metrics.rate_limited.labels(kind).inc()
        wait = max(1, math.ceil(decision.retry_after))
        if decision.first_refusal:
            log.info("rate limit: user %s over %d %s per %.0f s; dropping their updates for %d s", user.id,
                     limiter.max_events, "button presses" if query is not None else "messages",
                     limiter.window_seconds, wait)
        bot: Bot | None = data.get("bot")
        if bot is None:
            return None
        try:
            if query is not None:
                await bot.answer_callback_query(query.id, TOO_MANY_PRESSES.format(wait=wait))
            elif decision.first_refusal and chat is not None and chat.type == ChatType.PRIVATE:
                await bot.send_message(chat.id, TOO_FAST.format(wait=wait))
        except TelegramAPIError as exc:  # the update is dropped either way; an error reply would add to the flood
            log.warning("rate limit notice to user %s failed: %s", user.id, exc)
        return None


class ProfileMiddleware(BaseMiddleware):
    """Outer middleware after the rate limit: the user's profile is kept current (a cache read, rarely a write)."""

    def __init__(self, profiles: ProfileCache) -> None:
        self._profiles = profiles

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if user is not None and not user.is_bot:
            await self._profiles.seen(user.id, user.username, user.first_name, user.language_code)
        return await handler(event, data)
