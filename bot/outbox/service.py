"""The outbox: durable Telegram notifications with one delivery worker.

Producers write a row in the same database transaction as the change that caused
it (an order placed, a status changed), so a notification exists exactly when the
change does. The worker sends each chat's rows in order, respects Telegram's rate
limits, honours 429 `retry_after`, backs off on 5xx and network errors, and gives
up only on permanent errors, which are logged and counted.

Delivery is at-least-once with a crash window of one HTTP response: a row is
claimed (status `sending`, with a lease) before the call and marked delivered,
together with what the delivery implies (the staff message id), in one
transaction right after Telegram answers. A graceful stop lets the in-flight call
finish and record; only a hard crash between Telegram's answer and that commit
re-sends the message after the lease runs out (logged as a possible duplicate).
The other choice, marking before sending, would lose that message instead — and
orders must never be lost.

The outbox knows no Telegram: the calls go through a `Sender` (bot/telegram/gateway.py
makes them with the bot), which says what a failure means in a `DeliveryError`.

A row may wait for a moment on the calendar (`not_before`, a pre-order's reminder to staff):
the worker asks the injected calendar clock whether it has come, so it is sent when the cafe's
day says so, once, by whichever process claims it first, and never holds up its chat meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.clock import Clock, clock_from_settings
from bot.config import Settings
from bot.outbox.errors import DeliveryError, Outcome, Verdict, unexpected
from bot.outbox.ratelimit import ChatPacing, ChatRateLimiter
from storage.db import Database, Transaction
from storage.outbox import NORMAL, OutboxRepository, OutboxRow, OutboxStats

log = logging.getLogger(__name__)

MESSAGE = "message"
TERMINAL = ("delivered", "failed", "skipped")


@dataclass(frozen=True)
class Outgoing:
    """One Bot API call: send `text` to `chat_id`, or edit `edit_message_id` there."""

    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    edit_message_id: int | None = None


AfterDelivery = Callable[[Transaction], Awaitable[None]]


class Sender(Protocol):
    """Makes the outbox's calls to the messenger (for Telegram: bot.telegram.gateway.BotGateway)."""

    def ready(self) -> bool:
        """False while there is no link to send over (not connected yet, or bypassed): rows wait."""
        ...

    async def send(self, out: Outgoing, timeout: int) -> int:
        """Send `out` (or edit the message it names); the message id. Raises DeliveryError on failure."""
        ...


class Renderer(Protocol):
    """Turns a row of some kind into the call to make, at delivery time (so it shows the latest state)."""

    async def render(self, row: OutboxRow) -> Outgoing | None: ...

    def after_delivery(self, row: OutboxRow, outgoing: Outgoing, message_id: int) -> AfterDelivery | None: ...


class _PlainMessage:
    async def render(self, row: OutboxRow) -> Outgoing | None:
        return Outgoing(chat_id=row.chat_id, text=row.payload["text"], reply_markup=row.payload.get("reply_markup"))

    def after_delivery(self, row: OutboxRow, outgoing: Outgoing, message_id: int) -> AfterDelivery | None:
        return None


@dataclass(frozen=True)
class DeliveryResult:
    status: str  # delivered | pending | failed | skipped
    message_id: int | None = None
    error: str | None = None


class Outbox:
    def __init__(
        self, settings: Settings, db: Database, sender: Sender, *,
        limiter: ChatPacing | None = None, backoff_base: float = 1.0, backoff_max: float = 300.0,
        lease_seconds: float = 60.0, poll_seconds: float = 2.0, request_timeout: int = 20, concurrency: int = 8,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock or clock_from_settings(settings)  # decides when a `not_before` has come
        self._db = db
        self.repo = OutboxRepository(db)
        self._sender = sender
        self._limiter: ChatPacing = limiter or ChatRateLimiter()  # several replicas: bot/replicas/pacing.py
        self._backoff_base, self._backoff_max = backoff_base, backoff_max
        self._lease, self._poll, self._timeout = lease_seconds, poll_seconds, request_timeout
        self._concurrency = concurrency
        self._renderers: dict[str, Renderer] = {MESSAGE: _PlainMessage()}
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy_chats: set[int] = set()

    @property
    def enabled(self) -> bool:
        """False with BOT_MODE=off or no token: the runbook's "bypass Telegram notify" mitigation."""
        return self._settings.telegram_enabled

    def register(self, kind: str, renderer: Renderer) -> None:
        self._renderers[kind] = renderer

    def _calendar_now(self) -> float:
        """The calendar clock's now in epoch seconds: what a row's `not_before` is compared with."""
        return self._clock.now().timestamp()

    # --- producing -------------------------------------------------------------------------
    async def add(
        self, tx: Transaction, *, kind: str, chat_id: int, payload: dict[str, Any],
        order_id: int | None = None, dedupe_key: str | None = None, priority: int = NORMAL,
        not_before: float | None = None,
    ) -> int:
        """Write a notification inside the caller's transaction; the worker delivers it after commit.

        `priority=URGENT` puts it ahead of the chat's normal rows (see OutboxRepository.due);
        `not_before` (calendar epoch seconds) keeps it back until then, without holding up the chat.
        """
        status = "pending" if self.enabled else "skipped"
        row_id = await self.repo.add(tx, kind=kind, chat_id=chat_id, payload=payload, order_id=order_id,
                                     dedupe_key=dedupe_key, status=status, priority=priority,
                                     not_before=not_before)
        if status == "skipped":
            log.info("telegram disabled (BOT_MODE=off or TELEGRAM_BOT_TOKEN unset): notification #%s to chat %s "
                     "skipped", row_id, chat_id)
        else:
            tx.after_commit(self._wake.set)  # woken now, the worker might look before the row is visible
        return row_id

    async def skip_pending(self, tx: Transaction, *, order_id: int, kind: str) -> int:
        """Drop the order's unsent rows of one kind that have nothing left to say (a reminder of a finished order)."""
        return await self.repo.skip_pending(tx, order_id, kind)

    async def send_message(self, chat_id: int, text: str, reply_markup: dict[str, Any] | None = None) -> int:
        """A one-off message (HTML) through the outbox, in a transaction of its own."""
        payload: dict[str, Any] = {"text": text}
        if reply_markup:
            payload["reply_markup"] = reply_markup
        async with self._db.transaction() as tx:
            return await self.add(tx, kind=MESSAGE, chat_id=chat_id, payload=payload)

    # --- reading ---------------------------------------------------------------------------
    async def stats(self) -> OutboxStats:
        """For metrics and the side server: pending, delivered, failed, oldest pending age."""
        return await self.repo.stats(calendar=self._calendar_now())

    async def get(self, row_id: int) -> OutboxRow | None:
        return await self.repo.get(row_id)

    async def wait_final(self, row_id: int, timeout: float) -> OutboxRow | None:
        """The row once delivered/failed/skipped, or as it is when `timeout` runs out."""
        deadline = time.monotonic() + timeout
        while True:
            row = await self.repo.get(row_id)
            if row is None or row.status in TERMINAL or time.monotonic() >= deadline:
                return row
            await asyncio.sleep(0.05)  # polling the row's own state with a deadline

    # --- lifetime ------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        """Let in-flight sends finish and record their result; pending rows wait for the next start."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self._timeout + 5)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("outbox: %d sends cut off by shutdown; they are re-sent after restart", len(pending))

    async def _run(self) -> None:
        while not self._stopping:
            try:
                timeout = await self._dispatch()
            except Exception:
                log.exception("outbox worker iteration failed")
                timeout = self._poll
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    async def _dispatch(self) -> float:
        """Start deliveries for due rows; returns how long to sleep before looking again."""
        if not self._sender.ready() or not self._settings.telegram_enabled:
            return self._poll  # Telegram not (yet) available: rows stay pending, nothing is lost
        sleep = self._poll
        for row in await self.repo.due(limit=50, calendar=self._calendar_now()):
            if len(self._tasks) >= self._concurrency:
                break
            if row.chat_id in self._busy_chats:
                continue
            wait = await self._limiter.peek(row.chat_id)  # the slot is taken once the row is ours (deliver)
            if wait > 0:
                sleep = min(sleep, wait)
                continue
            self._busy_chats.add(row.chat_id)
            task = asyncio.create_task(self._deliver_task(row), name=f"outbox-{row.id}")
            self._tasks.add(task)
        next_due = await self.repo.next_due_at(calendar=self._calendar_now())
        if next_due is not None:
            sleep = min(sleep, max(0.0, next_due - time.time()))
        return max(sleep, 0.01)

    async def _deliver_task(self, row: OutboxRow) -> None:
        try:
            await self.deliver(row)
        except Exception:
            log.exception("outbox #%s: delivery crashed", row.id)
        finally:
            self._busy_chats.discard(row.chat_id)
            self._tasks.discard(asyncio.current_task())
            self._wake.set()

    # --- delivering ------------------------------------------------------------------------
    async def deliver(self, row: OutboxRow) -> DeliveryResult:
        """One attempt at one row: claim it, send, record the outcome. Also used by `notify-test`."""
        if not await self.repo.claim(row.id, self._lease, calendar=self._calendar_now()):
            return DeliveryResult("pending")  # someone else has it, or it is not due
        if row.status == "sending":
            log.warning("outbox #%s: the previous attempt was cut off mid-send (process stopped); sending again, "
                        "the chat may see it twice", row.id)
        renderer = self._renderers.get(row.kind)
        if renderer is None:
            await self.repo.mark_failed(row.id, f"unknown outbox kind {row.kind!r}")
            return DeliveryResult("failed", error=f"unknown kind {row.kind}")
        outgoing = await renderer.render(row)
        if outgoing is None:  # nothing to say any more (e.g. the order is gone)
            await self.repo.mark_delivered(row.id, None)
            return DeliveryResult("delivered")
        outcome: Outcome | None = None
        for _ in range(2):  # the second round only when an edit target vanished: send afresh
            wait = await self._slot(outgoing.chat_id)
            if wait > 0:  # another replica took the chat's last slot meanwhile: the row waits its turn
                await self.repo.reschedule(row.id, wait, "paced: Telegram's per-chat limit")
                return DeliveryResult("pending")
            try:
                message_id = await self._sender.send(outgoing, self._timeout)
            except Exception as exc:
                outcome = exc.outcome if isinstance(exc, DeliveryError) else unexpected(exc)
                if outcome.verdict is Verdict.RESEND and outgoing.edit_message_id is not None:
                    log.info("outbox #%s: staff message %s is gone; sending a new one", row.id,
                             outgoing.edit_message_id)
                    outgoing = replace(outgoing, edit_message_id=None)
                    continue
                break
            await self.repo.mark_delivered(row.id, message_id, renderer.after_delivery(row, outgoing, message_id))
            log.info("outbox #%s delivered to chat %s (attempt %d)", row.id, outgoing.chat_id, row.attempts + 1)
            return DeliveryResult("delivered", message_id)
        assert outcome is not None
        return await self._record_failure(row, outgoing, outcome)

    async def _slot(self, chat_id: int) -> float:
        """Take a send to `chat_id` from its limit, waiting a short while if needed; else how long to wait."""
        waited = 0.0
        while True:
            wait = await self._limiter.take(chat_id)
            if wait <= 0 or waited + wait > self._lease / 4:  # never wait out the row's lease
                return wait
            await asyncio.sleep(wait)
            waited += wait

    async def _record_failure(self, row: OutboxRow, outgoing: Outgoing, outcome: Outcome) -> DeliveryResult:
        attempt = row.attempts + 1
        if outcome.verdict is Verdict.DELIVERED:
            await self.repo.mark_delivered(row.id, outgoing.edit_message_id)
            return DeliveryResult("delivered", outgoing.edit_message_id)
        if outcome.verdict is Verdict.WAIT:
            delay = (outcome.delay or 1.0) + 0.05
            await self._limiter.hold(outgoing.chat_id, delay)
            await self.repo.reschedule(row.id, delay, outcome.reason)
            log.warning("outbox #%s: flood control for chat %s, retrying in %.0fs (attempt %d)", row.id,
                        outgoing.chat_id, delay, attempt)
            return DeliveryResult("pending", error=outcome.reason)
        if outcome.verdict is Verdict.FAILED or outcome.verdict is Verdict.RESEND:
            await self.repo.mark_failed(row.id, outcome.reason)
            log.error("outbox #%s: giving up on chat %s after %d attempts: %s", row.id, outgoing.chat_id, attempt,
                      outcome.reason)
            return DeliveryResult("failed", error=outcome.reason)
        delay = self.backoff(attempt)
        await self.repo.reschedule(row.id, delay, outcome.reason)
        log.warning("outbox #%s: %s; retrying in %.1fs (attempt %d)", row.id, outcome.reason, delay, attempt)
        return DeliveryResult("pending", error=outcome.reason)

    def backoff(self, attempt: int) -> float:
        """Exponential with jitter: base, 2·base, 4·base … capped, ±20%."""
        raw = min(self._backoff_max, self._backoff_base * 2 ** max(0, attempt - 1))
        return raw * random.uniform(0.8, 1.2)
