"""Cross-cutting work done for every update, outside the handlers."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.cache.profiles import ProfileCache
from bot.inflight import InflightTracker
from bot.logging_setup import kv
from bot.metrics import Metrics

log = logging.getLogger("bot.updates")

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
    """Outer middleware on every update: user bookkeeping, in-flight tracking, one log line."""

    def __init__(self, profiles: ProfileCache, metrics: Metrics, inflight: InflightTracker) -> None:
        self._profiles = profiles
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
            if user is not None and not user.is_bot:
                await self._profiles.seen(user.id, user.username, user.first_name, user.language_code)
            return await handler(event, data)
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
