"""What the bot knows about its link to the Telegram Bot API, from every call it makes.

A session middleware (`LinkRecorder`) sees the outcome of each Bot API call — polling,
replies, the outbox's sends, the supervisor's own steps — and tells `TelegramHealth`:

- a call that Telegram answered (even with "chat not found" or a 429) proves it reachable;
- a network error, a timeout, a 5xx or an answer that is not the Bot API's JSON (a proxy's
  "502 Bad Gateway" page) starts "unreachable since …" until the next answered call;
- a 401 means the token was rejected: reported (log, status, metric) and handed to the
  supervisor, which stops polling and retries slowly;
- a successful getUpdates means updates actually flow (polling mode); a confirmed setWebhook
  or a matching getWebhookInfo means the same in webhook mode.

While updates have not been seen to flow (at start, after a failure), the middleware sends
getUpdates with `timeout=0`: a long poll that succeeds only says so after 25 s, a short one
at once, so readiness and "reachable again" follow Telegram within a round trip.

The probes read it: `/readyz` is 503 until updates flow, while the token is rejected, while
the webhook is missing, and once Telegram has been unreachable for longer than
`TELEGRAM_UNREACHABLE_SECONDS`; `GET /api/agent/chat` lists the same as reasons; `/metrics`
and `GET /api/telegram` show the numbers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response

from bot.config import Settings

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 200
WEBHOOK_PATH = "/telegram/webhook"  # the side server takes Telegram's updates here (bot.telegram.session re-exports it)


def iso(ts: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC (seconds), for status bodies and reasons."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WebhookState:
    """Webhook mode: what Telegram last said about our webhook (getWebhookInfo)."""

    expected_url: str
    url: str | None = None
    confirmed: bool = False  # setWebhook succeeded and no check has found it gone since
    pending_update_count: int | None = None
    last_error_message: str | None = None
    last_error_date: float | None = None
    last_check_at: float | None = None
    resets: int = 0  # times the check found it missing or different and set it again

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected_url": self.expected_url, "url": self.url, "confirmed": self.confirmed,
            "pending_update_count": self.pending_update_count, "last_error_message": self.last_error_message,
            "last_error_date": iso(self.last_error_date), "last_check_at": iso(self.last_check_at),
            "resets": self.resets,
        }


class LinkState(StrEnum):
    """What the probes report for the link to Telegram (`GET /healthz` → telegram, `/api/telegram`)."""

    OK = "ok"
    CONNECTING = "connecting"
    BYPASSED = "bypassed"
    UNAUTHORIZED = "unauthorized"
    UNREACHABLE = "unreachable"
    WEBHOOK_MISSING = "webhook-missing"
    CONFLICT = "conflict"


class TelegramHealth:
    """The state of the link to Telegram, as seen from the calls the bot makes. No I/O of its own."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._secret = settings.bot_token
        self.bypass_reason = settings.telegram_bypass_reason
        self.mode = "off" if self.bypass_reason else settings.bot_mode
        self.unreachable_after = settings.telegram_unreachable_seconds
        expected = settings.webhook_base_url + WEBHOOK_PATH
        self.webhook = WebhookState(expected) if self.mode == "webhook" else None
        self.connected_once = False
        self.flowing = False  # updates reach the bot now (getUpdates succeeded / webhook confirmed)
        self.last_ok_at: float | None = None
        self.unreachable_since: float | None = None
        self.unauthorized_since: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.conflict: str | None = None
        self.polling_restarts = 0
        self.failures: Counter[str] = Counter()  # by kind: network, server, unauthorized, conflict
        self.bot_username: str | None = None
        self._trouble = asyncio.Event()  # the supervisor must act: token rejected, or a webhook blocks polling
        self._changed = asyncio.Event()

    # --- what the calls report ---------------------------------------------------------------
    def record_ok(self, method: TelegramMethod[Any] | None = None) -> None:
        """Telegram answered a call (successfully, or with an error that only a live Bot API gives)."""
        now = self._clock()
        if self.unreachable_since is not None:
            log.warning("Telegram reachable again after %.0f s", now - self.unreachable_since)
            self.unreachable_since = None
        self.last_ok_at = now
        self._notify()

    def record_updates_flowing(self) -> None:
        """getUpdates succeeded: updates reach the bot."""
        if not self.flowing:
            log.info("Telegram updates flowing (%s mode)", self.mode)
        self.flowing = self.connected_once = True
        self.conflict = None
        self._clear_unauthorized()

    def record_failure(self, method: TelegramMethod[Any] | None, exc: BaseException) -> None:
        """A call failed; classify it (unreachable, token rejected, conflict, or Telegram simply said no)."""
        now = self._clock()
        name = type(method).__name__ if method is not None else "call"
        if isinstance(exc, TelegramUnauthorizedError):
            self.failures["unauthorized"] += 1
            self.record_ok(method)  # Telegram answered: reachable, but it will not serve this token
            if self.unauthorized_since is None:
                self.unauthorized_since = now
                log.error("TELEGRAM_BOT_TOKEN rejected by the Bot API (401 Unauthorized on %s): the bot cannot "
                          "receive or send anything until the token is fixed", name)
            self._set_error(f"{name}: 401 Unauthorized", now)
            self.flowing = False
            self._trouble.set()
            return
        if isinstance(exc, TelegramConflictError):
            self.failures["conflict"] += 1
            self.record_ok(method)
            self._set_error(f"{name}: {self._describe(exc)}", now)
            if isinstance(method, GetUpdates):
                self.flowing = False
                self.conflict = self._describe(exc)
                self._trouble.set()
            return
        if isinstance(exc, TelegramServerError | TelegramNetworkError | ClientDecodeError) or not isinstance(
                exc, TelegramAPIError):
            self.failures["server" if isinstance(exc, TelegramServerError | ClientDecodeError) else "network"] += 1
            if self.unreachable_since is None:
                self.unreachable_since = now
            self._set_error(f"{name}: {self._describe(exc)}", now)
            if isinstance(method, GetUpdates):
                self.flowing = False
            self._notify()
            return
        self._set_error(f"{name}: {self._describe(exc)}", now)  # Telegram said no (400, 403, 404, 429...)
        self.record_ok(method)  # ...but it is there and answered

    def record_unauthorized_cleared(self) -> None:
        self._clear_unauthorized()

    def record_webhook_set(self, url: str) -> None:
        assert self.webhook is not None
        self.webhook.url, self.webhook.confirmed = url, True
        self.flowing = self.connected_once = True
        self._clear_unauthorized()
        self._notify()

    def record_webhook_info(self, url: str, pending: int | None, error_message: str | None,
                            error_date: float | None) -> bool:
        """A getWebhookInfo answer; True when the webhook is ours, False when it must be set again."""
        assert self.webhook is not None
        webhook = self.webhook
        webhook.url, webhook.pending_update_count = url, pending
        webhook.last_error_message, webhook.last_error_date = error_message, error_date
        webhook.last_check_at = self._clock()
        ours = url == webhook.expected_url
        if not ours and webhook.confirmed:
            webhook.confirmed = False
            self.flowing = False
            webhook.resets += 1
        self._notify()
        return ours

    def take_trouble(self) -> tuple[bool, str | None]:
        """(token rejected?, polling conflict) and clear the signal."""
        self._trouble.clear()
        return self.unauthorized_since is not None, self.conflict

    async def wait_trouble(self) -> None:
        await self._trouble.wait()

    async def wait_settled(self, timeout: float) -> None:
        """Until updates flow or something failed (for start-up, which never waits longer than `timeout`)."""
        deadline = time.monotonic() + timeout
        while not (self.flowing or self.last_error_at is not None):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return

    # --- what the probes read ---------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        if self.bypass_reason:
            return LinkState.BYPASSED
        if self.unauthorized_since is not None:
            return LinkState.UNAUTHORIZED
        if self.unreachable_since is not None:
            return LinkState.UNREACHABLE
        if self.webhook is not None and self.connected_once and not self.webhook.confirmed:
            return LinkState.WEBHOOK_MISSING
        if self.conflict:
            return LinkState.CONFLICT
        return LinkState.OK if self.flowing else LinkState.CONNECTING

    def seconds_since_ok(self) -> float | None:
        return None if self.last_ok_at is None else max(0.0, self._clock() - self.last_ok_at)

    def unreachable_for(self) -> float:
        return 0.0 if self.unreachable_since is None else max(0.0, self._clock() - self.unreachable_since)

    def readiness(self) -> list[str]:
        """Why the bot is not ready to serve Telegram (empty: ready)."""
        if self.bypass_reason:
            return []  # on purpose: the side server, agent and jobs are what runs
        problems: list[str] = []
        if self.unauthorized_since is not None:
            problems.append(f"Telegram rejects TELEGRAM_BOT_TOKEN (401) since {iso(self.unauthorized_since)}")
        if not self.connected_once:
            what = "the first successful getUpdates" if self.mode == "polling" else "setWebhook to succeed"
            problems.append(f"Telegram: waiting for {what}{self._unreachable_suffix()}")
        elif self.unreachable_since is not None and self.unreachable_for() > self.unreachable_after:
            problems.append(self._unreachable_reason())
        if self.webhook is not None and self.connected_once and not self.webhook.confirmed:
            problems.append(f"Telegram webhook is {self.webhook.url or 'not set'!s}, expected "
                            f"{self.webhook.expected_url}: setting it again")
        return problems

    def reasons(self) -> list[str]:
        """For GET /api/agent/chat: what an operator should know about Telegram (empty: fine)."""
        if self.bypass_reason:
            return [f"Telegram bypassed ({self.bypass_reason}): nothing is received from Telegram and staff "
                    "notifications are recorded as skipped"]
        reasons: list[str] = []
        if self.unauthorized_since is not None:
            reasons.append(f"Telegram rejects TELEGRAM_BOT_TOKEN (401 Unauthorized) since "
                           f"{iso(self.unauthorized_since)}: fix the token")
        if self.unreachable_since is not None:
            reasons.append(self._unreachable_reason())
        elif not self.connected_once:
            reasons.append("Telegram not connected yet")
        if self.webhook is not None and self.connected_once and not self.webhook.confirmed:
            reasons.append(f"Telegram webhook missing or different ({self.webhook.url or 'none'}); setting it again")
        if self.conflict:
            reasons.append(f"Telegram polling conflict: {self.conflict}")
        return reasons

    def snapshot(self) -> dict[str, Any]:
        since_ok = self.seconds_since_ok()
        return {
            "mode": self.mode, "state": self.state, "bypassed": self.bypass_reason,
            "bot_username": self.bot_username, "updates_flowing": self.flowing,
            "last_ok_at": iso(self.last_ok_at),
            "seconds_since_last_ok": None if since_ok is None else round(since_ok, 1),
            "unreachable_since": iso(self.unreachable_since),
            "unauthorized_since": iso(self.unauthorized_since),
            "last_error": self.last_error, "last_error_at": iso(self.last_error_at),
            "polling_restarts": self.polling_restarts, "failures": dict(self.failures),
            "webhook": self.webhook.as_dict() if self.webhook is not None else None,
        }

    # --- inside -----------------------------------------------------------------------------
    def _unreachable_reason(self) -> str:
        return (f"Telegram unreachable since {iso(self.unreachable_since)} ({self.unreachable_for():.0f} s): "
                f"{self.last_error}")

    def _unreachable_suffix(self) -> str:
        if self.unreachable_since is not None:
            return f"; unreachable since {iso(self.unreachable_since)}: {self.last_error}"
        return f"; last error: {self.last_error}" if self.last_error else ""  # e.g. setWebhook refused the URL

    def _clear_unauthorized(self) -> None:
        if self.unauthorized_since is not None:
            log.warning("Telegram accepts TELEGRAM_BOT_TOKEN again")
            self.unauthorized_since = None

    def _set_error(self, text: str, now: float) -> None:
        self.last_error, self.last_error_at = text[:MAX_ERROR_CHARS], now
        self._notify()

    def _describe(self, exc: BaseException) -> str:
        text = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).splitlines()[0]
        if not isinstance(exc, TelegramAPIError) or isinstance(exc, ClientDecodeError):
            text = f"{type(exc).__name__}: {text}"
        if self._secret:
            text = text.replace(self._secret, "***")  # an error may quote the URL, which holds the token
        return text

    def _notify(self) -> None:
        self._changed.set()


class LinkRecorder(BaseRequestMiddleware):
    """Session middleware: every Bot API call's outcome goes to TelegramHealth (see the module docstring)."""

    def __init__(self, health: TelegramHealth) -> None:
        self.health = health

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Response[Any]:
        polling = isinstance(method, GetUpdates)
        if isinstance(method, GetUpdates) and not self.health.flowing and method.timeout:
            method = method.model_copy(update={"timeout": 0})  # a short poll: success is known at once
        try:
            response = await make_request(bot, method)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.health.record_failure(method, exc)
            raise
        self.health.record_ok(method)
        if polling:
            self.health.record_updates_flowing()
        return response
