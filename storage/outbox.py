"""The Telegram outbox: messages written before they are sent, delivered by the worker.

Rows move pending → sending → delivered | failed (or back to pending with a later
`next_attempt_at`). A row is claimed with a compare-and-set and a lease, so two
processes on one database never send it twice at the same time, and a row whose
sender died mid-flight becomes due again when its lease runs out. On PostgreSQL (several
replicas on one database) the claim also takes the row lock with FOR UPDATE SKIP LOCKED: a
replica never waits behind another's claim of the same row, it skips it at once.

A row may carry `not_before` (a pre-order's reminder to staff): epoch seconds of the calendar
clock, passed in by the caller as `calendar` (the application's injected clock, so a test at a
fixed instant decides the same as production). Until then the row is neither due nor claimable,
and it is left out when the head of its chat's queue is chosen: a reminder due tomorrow morning
never holds up tonight's messages to the same staff chat, and among the rows whose moment has
come each chat's order holds as before. `next_attempt_at` and leases stay wall-clock durations.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Row, Transaction, now

TERMINAL = ("delivered", "failed", "skipped")
URGENT = 0  # delivered first within its chat (a new order's staff card)
NORMAL = 1


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    chat_id: int
    payload: dict[str, Any]
    order_id: int | None
    dedupe_key: str | None
    status: str
    attempts: int
    next_attempt_at: float
    lease_until: float | None
    last_error: str | None
    message_id: int | None
    created_at: float
    delivered_at: float | None
    priority: int = NORMAL
    not_before: float | None = None  # calendar epoch seconds before which the row is not sent (None: no wait)


def _row(row: Row) -> OutboxRow:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return OutboxRow(**data)


@dataclass(frozen=True)
class OutboxStats:
    """Counts by status and the age of the oldest undelivered row (what an alert watches)."""

    pending: int
    sending: int
    delivered: int
    failed: int
    skipped: int
    oldest_pending_age_seconds: float | None
    last_failure: str | None
    scheduled: int = 0  # pending rows whose `not_before` has not come: not a backlog, not in `pending`

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending, "sending": self.sending, "delivered": self.delivered, "failed": self.failed,
            "skipped": self.skipped, "scheduled": self.scheduled,
            "oldest_pending_age_seconds": self.oldest_pending_age_seconds, "last_failure": self.last_failure,
        }


# A row whose moment has come (or that is in flight): the only rows a chat's queue is ordered by.
_REACHED = "(status = 'sending' OR not_before IS NULL OR not_before <= ?)"


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, tx: Transaction, *, kind: str, chat_id: int, payload: dict[str, Any],
        order_id: int | None = None, dedupe_key: str | None = None, status: str = "pending", priority: int = NORMAL,
        not_before: float | None = None,
    ) -> int:
        """Insert a row inside the caller's transaction; with a dedupe key already pending, returns that row.

        `not_before`: calendar epoch seconds before which it is not sent (see the module's docstring).
        """
        ts = now()
        row_id = await tx.insert(
            """INSERT INTO outbox(kind, chat_id, payload, order_id, dedupe_key, status, next_attempt_at,
               created_at, priority, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT DO NOTHING RETURNING id""",
            (kind, chat_id, json.dumps(payload, ensure_ascii=False), order_id,
             dedupe_key if status == "pending" else None, status, ts, ts, priority, not_before),
        )
        if row_id is not None:
            return row_id
        pending = await tx.fetchval("SELECT id FROM outbox WHERE dedupe_key = ? AND status = 'pending'", (dedupe_key,))
        return int(pending or 0)

    async def get(self, row_id: int) -> OutboxRow | None:
        row = await self._db.fetchone("SELECT * FROM outbox WHERE id = ?", (row_id,))
        return _row(row) if row else None

    async def due(self, limit: int, at: float | None = None, calendar: float | None = None) -> list[OutboxRow]:
        """The head of each chat's queue, if it is due: one row per chat, so per-chat order is kept.

        The head is the row in flight if there is one (a chat never has two), else the
        pending row with the lowest (priority, id): FIFO among equals, urgent rows first.
        Rows whose `not_before` is after `calendar` (the calendar clock's now) are not in
        the queue yet, so they hold up nothing behind them.
        """
        ts = now() if at is None else at
        cal = ts if calendar is None else calendar
        rows = await self._db.fetchall(
            """SELECT o.* FROM outbox o
               WHERE o.id IN (
                   SELECT (SELECT i.id FROM outbox i
                           WHERE i.chat_id = c.chat_id AND i.status IN ('pending', 'sending')
                             AND (i.status = 'sending' OR i.not_before IS NULL OR i.not_before <= ?)
                           ORDER BY i.status = 'sending' DESC, i.priority, i.id LIMIT 1)
                   FROM (SELECT DISTINCT chat_id FROM outbox WHERE status IN ('pending', 'sending')) c)
                 AND ((o.status = 'pending' AND o.next_attempt_at <= ?)
                      OR (o.status = 'sending' AND o.lease_until < ?))
               ORDER BY o.priority, o.next_attempt_at, o.id LIMIT ?""",
            (cal, ts, ts, limit),
        )
        return [_row(r) for r in rows]

    async def next_due_at(self, calendar: float | None = None) -> float | None:
        """When (wall-clock epoch seconds) the next row becomes due: a retry, a lease, or a `not_before`."""
        ts = now()
        cal = ts if calendar is None else calendar
        soonest = await self._db.fetchval(
            f"""SELECT MIN(CASE status WHEN 'pending' THEN next_attempt_at ELSE lease_until END)
                FROM outbox WHERE status IN ('pending', 'sending') AND {_REACHED}""",
            (cal,),
        )
        scheduled = await self._db.fetchval(
            "SELECT MIN(not_before) FROM outbox WHERE status = 'pending' AND not_before > ?", (cal,)
        )
        times = [float(soonest)] if soonest is not None else []
        if scheduled is not None:
            times.append(ts + float(scheduled) - cal)  # the calendar's wait, measured on the wall clock
        return min(times) if times else None

    async def claim(self, row_id: int, lease_seconds: float, calendar: float | None = None) -> bool:
        """Take the row for one delivery attempt (compare-and-set; also takes over an expired lease).

        A row whose `not_before` is after `calendar` is not taken. The dedupe key is released:
        a change made while this row is in flight gets a pending row of its own, which renders
        the state after that change.
        """
        ts = now()
        cal = ts if calendar is None else calendar
        due = ("((status = 'pending' AND next_attempt_at <= ? AND (not_before IS NULL OR not_before <= ?))"
               " OR (status = 'sending' AND lease_until < ?))")
        take = "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = ?, dedupe_key = NULL"
        if self._db.dialect == "postgresql":
            # One statement, so its own transaction, outside the write transactions' advisory lock: the row
            # lock first, skipping a row another replica is claiming right now (never waiting behind it), then
            # the same compare-and-set, which the lock makes final (the row cannot change under it).
            changed = await self._db.execute_rowcount(
                f"""{take} WHERE id = (SELECT id FROM outbox WHERE id = ? AND {due} FOR UPDATE SKIP LOCKED)
                    AND {due}""",
                (ts + lease_seconds, row_id, ts, cal, ts, ts, cal, ts),
            )
            return changed > 0
        # SQLite: one writer at a time already; the compare-and-set alone decides.
        changed = await self._db.execute_rowcount(f"{take} WHERE id = ? AND {due}",
                                                  (ts + lease_seconds, row_id, ts, cal, ts))
        return changed > 0

    async def skip_pending(self, tx: Transaction, order_id: int, kind: str) -> int:
        """Drop the order's pending rows of one kind (a reminder of an order that no longer needs one)."""
        return await tx.execute(
            "UPDATE outbox SET status = 'skipped', dedupe_key = NULL WHERE order_id = ? AND kind = ? "
            "AND status = 'pending'",
            (order_id, kind),
        )

    async def mark_delivered(
        self, row_id: int, message_id: int | None,
        also: Callable[[Transaction], Awaitable[None]] | None = None,
    ) -> None:
        """Delivered, and whatever the delivery implies (the staff message id), in one transaction."""
        async with self._db.transaction() as tx:
            await tx.execute(
                """UPDATE outbox SET status = 'delivered', delivered_at = ?, message_id = ?, lease_until = NULL,
                   last_error = NULL, dedupe_key = NULL WHERE id = ?""",
                (now(), message_id, row_id),
            )
            if also is not None:
                await also(tx)

    async def reschedule(self, row_id: int, delay: float, error: str) -> None:
        """Back to pending after a transient failure, due again in `delay` seconds."""
        await self._db.execute(
            """UPDATE outbox SET status = 'pending', next_attempt_at = ?, lease_until = NULL, last_error = ?
               WHERE id = ?""",
            (now() + delay, error[:500], row_id),
        )

    async def mark_failed(self, row_id: int, error: str) -> None:
        await self._db.execute(
            """UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = ?, dedupe_key = NULL
               WHERE id = ?""",
            (error[:500], row_id),
        )

    async def stats(self, calendar: float | None = None) -> OutboxStats:
        """Counts by status; a row waiting for its `not_before` is `scheduled`, not `pending`.

        The oldest undelivered row's age counts from when it could first be sent: its creation,
        or its `not_before` (on the calendar clock, like `not_before` itself).
        """
        ts = now()
        cal = ts if calendar is None else calendar
        counts = {r["status"]: int(r["n"]) for r in await self._db.fetchall(
            "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status"
        )}
        scheduled = int(await self._db.fetchval(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND not_before > ?", (cal,)) or 0)
        oldest = await self._db.fetchval(
            f"""SELECT MAX(CASE WHEN not_before IS NULL THEN ? - created_at ELSE ? - not_before END)
                FROM outbox WHERE status IN ('pending', 'sending') AND {_REACHED}""",
            (ts, cal, cal),
        )
        last_failure = await self._db.fetchval(
            "SELECT last_error FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT 1"
        )
        return OutboxStats(
            pending=counts.get("pending", 0) - scheduled, sending=counts.get("sending", 0),
            delivered=counts.get("delivered", 0), failed=counts.get("failed", 0),
            skipped=counts.get("skipped", 0), scheduled=scheduled,
            oldest_pending_age_seconds=round(float(oldest), 1) if oldest is not None else None,
            last_failure=last_failure,
        )
