"""Telegram connectivity as a supervised loop, for as long as the process runs.

Before this, `_start_telegram` tried getMe once, started aiogram's polling and hoped: a Bot
API blip at start (DNS not ready in a fresh container, a 502 during a deploy) ended the
polling task for good and the bot stayed deaf while `/readyz` said 200. Now one task owns
the link:

    getMe → polling: deleteWebhook, then aiogram's polling (setMyCommands beside it, best effort)
                                        → webhook: setWebhook, then a getWebhookInfo check
                                          every WEBHOOK_CHECK_SECONDS that sets it again
                                          when Telegram lost it or holds another URL

Every step is retried, whatever the failure (network error, DNS, 5xx, a proxy's HTML error
page, a 400 from a bad setting), with capped exponential backoff and jitter
(`Backoff`: 1 s doubling up to TELEGRAM_RETRY_MAX_SECONDS, each delay drawn from its upper
half); a 429 waits its `retry_after`. aiogram's polling retries getUpdates errors itself
(with the same cap); when polling ends for any other reason than shutdown it is started
again. A 401 — the token was revoked — is reported (log, status, metric), polling is
stopped and getMe is retried every TELEGRAM_UNAUTHORIZED_RETRY_SECONDS: never a tight loop,
never a crash. What the calls see is recorded by `bot.telegram.health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.utils.backoff import BackoffConfig

from bot.config import Settings
from bot.replicas.leases import JobLeases, LocalLeases
from bot.tasks import cancel_and_wait
from bot.telegram.health import TelegramHealth

log = logging.getLogger(__name__)

T = TypeVar("T")
BASE_DELAY_SECONDS = 1.0
POLLING_TIMEOUT_SECONDS = 25
STABLE_SECONDS = 60.0  # polling that ran this long before ending starts its restarts from the shortest delay
LOG_EVERY_ATTEMPTS = 10  # after the first failure of a step, one WARNING per this many attempts
Sleep = Callable[[float], Awaitable[None]]


class Backoff:
    """Capped exponential backoff with jitter: attempt n waits a random time in [d/2, d], d = min(cap, base·2ⁿ).

    The jitter keeps a fleet of restarted bots from hitting Telegram in step; the upper half
    keeps the delay from collapsing to zero. `rand` is injectable so tests are exact.
    """

    def __init__(self, cap: float, base: float = BASE_DELAY_SECONDS,
                 rand: Callable[[], float] = random.random) -> None:
        self.cap, self.base, self._rand = cap, min(base, cap), rand
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2 ** self.attempt)
        self.attempt += 1
        return ceiling / 2 + self._rand() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0


class Unauthorized(Exception):
    """The Bot API rejected the token (401)."""


class TelegramSupervisor:
    """Owns the bot's link to Telegram: connects, keeps polling or the webhook alive, reports."""

    def __init__(
        self, bot: Bot, dp: Dispatcher, settings: Settings, health: TelegramHealth, *,
        webhook_url: str = "", after_connect: Callable[[], Awaitable[None]] | None = None,
        sleep: Sleep = asyncio.sleep, rand: Callable[[], float] = random.random, leases: JobLeases | None = None,
    ) -> None:
        self.bot, self.dp, self.settings, self.health = bot, dp, settings, health
        self._leases = leases or LocalLeases()  # several replicas: one of them checks the webhook each period
        self.webhook_url = webhook_url
        self._after_connect = after_connect
        self._after_connect_done = False
        self._sleep = sleep
        self._rand = rand
        self._task: asyncio.Task[None] | None = None
        self._polling: asyncio.Task[None] | None = None
        self._menus: asyncio.Task[None] | None = None
        self._stopping = False

    def backoff(self) -> Backoff:
        return Backoff(self.settings.telegram_retry_max_seconds, rand=self._rand)

    # --- lifetime ----------------------------------------------------------------------------
    async def start(self, wait_seconds: float = 0.0) -> None:
        """Start the loop; wait up to `wait_seconds` for updates to flow or a first failure (never longer)."""
        self._task = asyncio.create_task(self._run(), name="telegram-supervisor")
        self._task.add_done_callback(self._on_done)
        if wait_seconds > 0:
            await self.health.wait_settled(wait_seconds)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (aiogram ends its long poll) and the loop; handlers already running go on."""
        self._stopping = True
        if self._polling is not None and not self._polling.done():
            try:
                await asyncio.wait_for(self.dp.stop_polling(), timeout)
            except (RuntimeError, TimeoutError):  # not started yet, or it hangs
                self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._polling
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await cancel_and_wait(self._menus)

    @property
    def polled(self) -> bool:
        """Did this process poll (so shutdown should confirm the updates it handled)?"""
        return self._polling is not None

    def _on_done(self, task: asyncio.Task[None]) -> None:
        """The loop never ends by itself; if a bug ends it anyway, say so loudly and start it again."""
        if self._stopping or task.cancelled():
            return
        exc = task.exception()
        log.critical("Telegram supervisor ended unexpectedly (%r); starting it again", exc, exc_info=exc)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="telegram-supervisor")
        self._task.add_done_callback(self._on_done)

    # --- the loop -----------------------------------------------------------------------------
    async def _run(self) -> None:
        trouble = self.backoff()
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await self._connect()
                if self.settings.bot_mode == "webhook":
                    await self._keep_webhook()
                else:
                    started = loop.time()
                    await self._poll()
                    if loop.time() - started > STABLE_SECONDS:
                        trouble.reset()  # it ran for a while: a fresh problem starts from short delays
                delay = trouble.next()  # polling ended by itself: start it again, never in a tight loop
            except Unauthorized:
                delay = self.settings.telegram_unauthorized_retry_seconds
                log.error("Telegram rejects TELEGRAM_BOT_TOKEN; trying again in %.0f s", delay)
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = trouble.next()
                log.exception("Telegram supervisor step failed; starting over in %.1f s", delay)
            if not self._stopping:
                await self._sleep(delay)

    async def _connect(self) -> None:
        """getMe (which also proves the token), then the bot's command menus."""
        me = await self.retry("getMe", self.bot.get_me)
        self.health.record_unauthorized_cleared()
        self.health.bot_username = me.username
        log.info("bot @%s (id %s) connected in %s mode", me.username, me.id, self.settings.bot_mode)
        if self._after_connect is not None and not self._after_connect_done and (
                self._menus is None or self._menus.done()):
            # Beside the updates, not before them: a restart takes its waiting updates at once (several calls
            # to Telegram, each a round trip, would otherwise come first).
            self._menus = asyncio.create_task(self._set_menus(self._after_connect), name="telegram-menus")

    async def _set_menus(self, after_connect: Callable[[], Awaitable[None]]) -> None:
        try:
            await after_connect()
            self._after_connect_done = True
        except Exception as exc:  # menus are a nicety, never a reason not to serve; tried on the next connect
            log.warning("setting the command menus failed: %s", exc)

    async def _poll(self) -> None:
        # A webhook left behind (a previous deployment, or set by hand) makes getUpdates fail.
        await self.retry("deleteWebhook", lambda: self.bot.delete_webhook(drop_pending_updates=False))
        self.health.take_trouble()
        cap = self.settings.telegram_retry_max_seconds
        self._polling = asyncio.create_task(
            self.dp.start_polling(
                self.bot, handle_signals=False, close_bot_session=False, polling_timeout=POLLING_TIMEOUT_SECONDS,
                allowed_updates=self.dp.resolve_used_update_types(),
                backoff_config=BackoffConfig(min_delay=min(BASE_DELAY_SECONDS, cap / 2), max_delay=cap,
                                             factor=2.0, jitter=0.1),
            ),
            name="telegram-polling",
        )
        trouble = asyncio.create_task(self.health.wait_trouble(), name="telegram-trouble")
        try:
            await asyncio.wait({self._polling, trouble}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            trouble.cancel()
        if self._stopping:
            return
        if not self._polling.done():
            unauthorized, conflict = self.health.take_trouble()
            await self._stop_polling()
            if unauthorized:
                raise Unauthorized
            log.warning("polling stopped: %s; deleting the webhook and polling again", conflict)
            self.health.polling_restarts += 1
            return
        exc = self._polling.exception() if not self._polling.cancelled() else None
        self.health.polling_restarts += 1
        log.error("polling ended unexpectedly (%s); starting it again", repr(exc) if exc else "no error")

    async def _stop_polling(self) -> None:
        assert self._polling is not None
        with contextlib.suppress(RuntimeError, TimeoutError):
            await asyncio.wait_for(self.dp.stop_polling(), 5)
        if not self._polling.done():
            self._polling.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._polling

    async def _keep_webhook(self) -> None:
        await self._set_webhook()
        while not self._stopping:
            await self._sleep(self.settings.webhook_check_seconds)
            if not await self._leases.take("webhook-check", self.settings.webhook_check_seconds):
                continue  # another replica checks it this period
            try:
                info = await self.bot.get_webhook_info()
            except TelegramUnauthorizedError:
                raise Unauthorized from None
            except Exception as exc:  # recorded by the session middleware; try again next round
                log.debug("getWebhookInfo failed: %s", exc)
                continue
            error_date = info.last_error_date.timestamp() if info.last_error_date else None
            if not self.health.record_webhook_info(info.url, info.pending_update_count, info.last_error_message,
                                                   error_date):
                log.warning("the webhook at Telegram is %r, expected %s (%d updates waiting): setting it again",
                            info.url or "", self.webhook_url, info.pending_update_count)
                await self._set_webhook()

    async def _set_webhook(self) -> None:
        await self.retry("setWebhook", lambda: self.bot.set_webhook(
            url=self.webhook_url, secret_token=self.settings.webhook_secret_value,
            allowed_updates=self.dp.resolve_used_update_types(), drop_pending_updates=False,
        ))
        self.health.record_webhook_set(self.webhook_url)
        log.info("webhook set to %s", self.webhook_url)

    # --- retrying one step ----------------------------------------------------------------
    async def retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call` until it succeeds: backoff on any failure, a 429's retry_after, Unauthorized on a 401."""
        backoff = self.backoff()
        while True:
            try:
                return await call()
            except TelegramUnauthorizedError:
                raise Unauthorized from None
            except TelegramRetryAfter as exc:
                delay = float(exc.retry_after)
                detail: Any = f"flood control, retry after {exc.retry_after} s"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.next()
                detail = self.health.last_error or repr(exc)
            attempt = backoff.attempt
            if attempt <= 1 or attempt % LOG_EVERY_ATTEMPTS == 0:
                log.warning("Telegram %s failed (%s); retrying in %.1f s (attempt %d)", what, detail, delay,
                            max(attempt, 1))
            else:
                log.debug("Telegram %s failed (%s); retrying in %.1f s", what, detail, delay)
            await self._sleep(delay)
