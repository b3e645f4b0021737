"""Every aiogram middleware of the bot: work done around the handlers, in one place.

The dispatcher's outer middlewares run in this order (`bot.app.build_dispatcher`):
`UpdateContextMiddleware` (in-flight tracking, metrics, the one log line), then
`RateLimitMiddleware` (the per-user limit, before anything costs a database write, a
download or a model call), then `ProfileMiddleware` (the profile write), then
`LocaleMiddleware` (the language every text of this update is written in), then the routers.

Inner middlewares, set by the routers they guard: admission of a question to the agent
(`TextAdmissionMiddleware`, the chat router; a voice note's transcript goes through the same
`admitted()`), of a voice note to the listeners (`VoiceGateMiddleware`, the voice router), and
the answer to a refused ordering request (`reply_to_order_errors`, the ordering routers). The
decisions themselves are domain code without Telegram (bot/conversation.py, bot/voice/gate.py,
bot.orders.OrderError); here they meet the updates. (The bot session's request middlewares, which
wait out flood control and record the link's health, belong to the session: session.py, health.py.)
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update

from bot.cache.profiles import ProfileCache
from bot.config import Settings
from bot.conversation import Conversation
from bot.i18n import N_, Catalogues, _, use_locale
from bot.inflight import InflightTracker
from bot.logging_setup import kv
from bot.metrics import Metrics
from bot.orders import OrderError
from bot.ratelimit import RateLimits
from bot.telegram.replies import send_text
from bot.text import escape
from bot.voice.gate import VoiceGate

log = logging.getLogger("bot.updates")

THROTTLED = "throttled"  # set in the handler data when the rate limit dropped the update (for the log line)
PROFILE = "profile"  # handler data: the user's cached profile (ProfileMiddleware), read by LocaleMiddleware
TOO_FAST = N_("You're sending messages faster than I can answer 🙂 Please wait {wait} seconds, then ask again.")
TOO_MANY_PRESSES = N_("That's a lot of button presses 🙂 Please wait {wait} seconds.")

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
    customers like anyone. With Redis the windows are shared by every replica (one limit per
    customer however the load balancer spreads their messages); without it, or while Redis
    fails, they live in this process's memory, so the limit holds whatever Redis does.
    """

    def __init__(self, settings: Settings, limits: RateLimits, metrics: Metrics | None = None,
                 catalogues: Catalogues | None = None) -> None:
        self.messages = limits.messages
        self.buttons = limits.buttons
        self._admins = settings.admin_ids
        self._staff_chat = settings.staff_chat_id
        self._metrics = metrics
        self._catalogues = catalogues or Catalogues()

    def exempt(self, user_id: int, chat: Chat | None) -> bool:
        return user_id in self._admins or (chat is not None and chat.id == self._staff_chat)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        user = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or self.exempt(user.id, chat) or is_payment(event):
            return await handler(event, data)
        query = event.callback_query
        limiter = self.buttons if query is not None else self.messages
        decision = await limiter.decide(user.id)
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
        # Before the profile is read (that would cost the work the limit saves): Telegram's language, not /language.
        try:
            with use_locale(self._catalogues, user.language_code or ""):
                if query is not None:
                    await bot.answer_callback_query(query.id, _(TOO_MANY_PRESSES).format(wait=wait))
                elif decision.first_refusal and chat is not None and chat.type == ChatType.PRIVATE:
                    await bot.send_message(chat.id, _(TOO_FAST).format(wait=wait))
        except TelegramAPIError as exc:  # the update is dropped either way; an error reply would add to the flood
            log.warning("rate limit notice to user %s failed: %s", user.id, exc)
        return None


def is_payment(update: Update) -> bool:
    """Telegram's pre-checkout query or payment message: never dropped (money is on its way or was taken)."""
    return update.pre_checkout_query is not None or (
        update.message is not None and update.message.successful_payment is not None)


class ProfileMiddleware(BaseMiddleware):
    """Outer middleware after the rate limit: the user's profile is kept current (a cache read, rarely a write).

    The profile is left in the handler data (`PROFILE`) for LocaleMiddleware.
    """

    def __init__(self, profiles: ProfileCache) -> None:
        self._profiles = profiles

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if user is not None and not user.is_bot:
            data[PROFILE] = await self._profiles.seen(user.id, user.username, user.first_name, user.language_code)
        return await handler(event, data)


class LocaleMiddleware(BaseMiddleware):
    """Outer middleware after ProfileMiddleware: the language of every text this update's handlers send.

    aiogram's I18nMiddleware pattern (a context variable set per update, read by gettext), over the
    bot's own catalogues (bot.i18n) so that domain code translates without importing aiogram. In the
    staff group: STAFF_LANGUAGE. Elsewhere: the customer's /language choice, else Telegram's
    `language_code`, else the default; both come from the cached profile, so no query is added.
    The chosen code is also left in the handler data as `locale`.
    """

    def __init__(self, catalogues: Catalogues, settings: Settings) -> None:
        self._catalogues = catalogues
        self._staff_chat = settings.staff_chat_id
        self._staff_language = settings.staff_language

    def locale_for(self, data: dict[str, Any]) -> str:
        chat: Chat | None = data.get("event_chat")
        if chat is not None and self._staff_chat is not None and chat.id == self._staff_chat:
            return self._catalogues.resolve(self._staff_language)
        profile = data.get(PROFILE)
        user = data.get("event_from_user")
        chosen = profile.get("language") if isinstance(profile, dict) else None
        return self._catalogues.resolve(chosen, user.language_code if user is not None else None)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        locale = self.locale_for(data)
        data["locale"] = locale
        with use_locale(self._catalogues, locale):  # reset afterwards, also where updates share a task
            return await handler(event, data)


# --- inner middlewares: admission before the expensive work -------------------------------------

TEXT_ADMISSION = "admission"  # the handler flag that asks for TextAdmissionMiddleware: flags={TEXT_ADMISSION: True}


@contextlib.asynccontextmanager
async def admitted(message: Message, conversation: Conversation, text: str) -> AsyncIterator[bool]:
    """A question's admission to the agent: the length limit, then the user's turn (one answer in flight).

    Yields whether to answer; on False the customer was already told why not. Used by the
    text middleware below and, once a voice note is heard, by the voice handler for its transcript.
    """
    refusal = conversation.refusal(text)
    if refusal is not None:
        await send_text(message, refusal)
        yield False
        return
    user_id = message.from_user.id if message.from_user else message.chat.id

    async def say(notice: str) -> None:
        await send_text(message, notice)

    async with conversation.turn(user_id, say) as ok:
        yield ok


class TextAdmissionMiddleware(BaseMiddleware):
    """Inner middleware on the chat router: handlers flagged TEXT_ADMISSION run only for an admitted question."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        conversation: Conversation | None = data.get("conversation")
        if conversation is None or not isinstance(event, Message) or not get_flag(data, TEXT_ADMISSION):
            return await handler(event, data)
        async with admitted(event, conversation, event.text or "") as ok:
            if not ok:
                return None
            return await handler(event, data)


class VoiceGateMiddleware(BaseMiddleware):
    """Inner middleware on the voice router: runs only for media its filters took (the gate: bot/voice/gate.py)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        gate: VoiceGate | None = data.get("voice_gate")
        if gate is None or not isinstance(event, Message):
            return await handler(event, data)
        user_id = event.from_user.id if event.from_user else event.chat.id
        ok, answer = await gate.admit(user_id)
        if not ok:
            if answer:
                await event.answer(answer)
            return None
        try:
            return await handler(event, data)
        finally:
            gate.release(user_id)


# --- inner middleware: a refused ordering request becomes a clear answer ------------------------

class OrderErrorReply(BaseMiddleware):
    """A refused ordering request (OrderError) becomes a clear answer: an alert for a button, a reply for text.

    An inner middleware on the ordering routers rather than a router `errors` handler:
    error events propagate from the Dispatcher down, and its catch-all handler
    (handlers/errors.py) would answer first with a generic apology.

    An OrderError's text is plain text that may carry a menu item's name or what a customer
    typed. The reply goes out in the bot's HTML parse mode, so it is escaped: a name like
    "Mac & Cheese <3" would otherwise be refused by Telegram ("can't parse entities") or, with
    a tag in it, become markup. A callback alert is never parsed, so it gets the text as is.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except OrderError as exc:
            if isinstance(event, CallbackQuery):
                await event.answer(str(exc), show_alert=True)
            elif isinstance(event, Message):
                await event.answer(escape(str(exc)))
            return None


class ActiveCheckoutMiddleware(BaseMiddleware):
    """The customer's open checkout, read once for a plain text message in private (`active_checkout`).

    An outer middleware on the cart router: its step filters (`CheckoutStep("pickup")`, `("note")`)
    all ask the same question, and this answers it with one database read instead of one each.
    Other messages (commands, groups, media) get None without a read.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        checkout = None
        if (isinstance(event, Message) and event.chat.type == ChatType.PRIVATE and event.from_user is not None
                and event.text and not event.text.startswith("/")):
            checkout = await data["orders"].active_checkout(event.from_user.id)
        data["active_checkout"] = checkout
        return await handler(event, data)


def reply_to_order_errors(router: Router) -> Router:
    router.message.middleware(OrderErrorReply())
    router.callback_query.middleware(OrderErrorReply())
    return router
