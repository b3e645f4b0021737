"""Data retention: the runbook's policy as a daily job inside the app and `main.py purge`.

- conversations (dialogs and their messages): older than CONVERSATIONS_RETENTION_DAYS (180)
- agent_events: older than EVENTS_RETENTION_DAYS (365)
- orders: kept forever (business and accounting records) unless ORDERS_RETENTION_DAYS is
  set; then only finished orders (completed or cancelled) last changed before the cutoff
  go, together with their items, status history and outbox rows.
- sent notifications (outbox rows delivered, skipped or failed): older than
  OUTBOX_RETENTION_DAYS (30). They are delivery receipts holding a copy of the message
  text; the order keeps its staff card's message id and its status history itself.
  Pending and in-flight rows are never touched.

Deletes run in batches of `batch_size` rows, each its own short write transaction, with
the event loop given back in between, so a purge of millions of rows never holds the
database's write lock long enough to stall the bot. A table that does not exist (a
feature not installed) is skipped, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings
from bot.logging_setup import kv
from bot.replicas.leases import JobLeases, LocalLeases, run_leased
from bot.tasks import cancel_and_wait
from storage.db import Database

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400.0
BATCH_SIZE = 500
FIRST_RUN_DELAY_SECONDS = 60.0  # let the bot start answering before the first purge


@dataclass(frozen=True, slots=True)
class Rule:
    """Rows of `table` whose `column` (epoch seconds) is older than the cutoff are removed."""

    name: str  # what the report calls it
    table: str
    column: str
    days: Callable[[Settings], int | None]  # None: keep forever
    condition: str = ""  # an extra SQL condition on the row
    children: tuple[tuple[str, str], ...] = ()  # (table, column referencing our id), deleted first


RULES: tuple[Rule, ...] = (
    # Messages first (the bulk of the rows), then the dialogs they belonged to. A dialog's
    # last message is its newest one, so an old dialog has no message newer than the cutoff.
    Rule("conversation_messages", "dialog_messages", "created_at", lambda s: s.conversations_retention_days),
    Rule("conversations", "dialogs", "last_message_at", lambda s: s.conversations_retention_days,
         children=(("dialog_messages", "dialog_id"),)),
    Rule("agent_events", "agent_events", "created_at", lambda s: s.events_retention_days),
    Rule("orders", "orders", "updated_at", lambda s: s.orders_retention_days,
         condition="status IN ('completed', 'cancelled')",
         children=(("order_items", "order_id"), ("order_status_history", "order_id"), ("outbox", "order_id"))),
    Rule("sent_notifications", "outbox", "created_at", lambda s: s.outbox_retention_days,
         condition="status IN ('delivered', 'skipped', 'failed')"),
)


@dataclass
class PurgeReport:
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)  # rule name -> rows removed (or that would be)
    kept: dict[str, str] = field(default_factory=dict)  # rule name -> why nothing was purged
    cutoffs: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "counts": self.counts, "kept": self.kept,
                "cutoffs": {k: _iso(v) for k, v in self.cutoffs.items()}, "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        parts = [f"{name}={n}" for name, n in self.counts.items()]
        parts += [f"{name}=kept ({why})" for name, why in self.kept.items()]
        return f"retention {verb}: " + ", ".join(parts)


async def purge(db: Database, settings: Settings, *, dry_run: bool = False, batch_size: int = BATCH_SIZE,
                now: float | None = None) -> PurgeReport:
    """Apply every retention rule once; logs one line and returns the counts."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    report = PurgeReport(dry_run=dry_run)
    for rule in RULES:
        days = rule.days(settings)
        if days is None:
            report.kept[rule.name] = "no retention limit set"
            continue
        if not await db.table_exists(rule.table):
            report.kept[rule.name] = f"no table {rule.table}"
            continue
        cutoff = now - days * DAY_SECONDS
        report.cutoffs[rule.name] = cutoff
        report.counts[rule.name] = await (_count(db, rule, cutoff) if dry_run
                                          else _delete(db, rule, cutoff, batch_size))
    report.seconds = time.perf_counter() - started
    log.info("%s", report.summary(), extra={"fields": {"event": "retention", **report.as_dict()}})
    return report


def _where(rule: Rule) -> str:
    where = f"{rule.column} < ?"
    return f"{where} AND {rule.condition}" if rule.condition else where


async def _count(db: Database, rule: Rule, cutoff: float) -> int:
    return int(await db.fetchval(f"SELECT COUNT(*) FROM {rule.table} WHERE {_where(rule)}", (cutoff,)))


async def _delete(db: Database, rule: Rule, cutoff: float, batch_size: int) -> int:
    total = 0
    children = [c for c in rule.children if await db.table_exists(c[0])]
    while True:
        async with db.transaction() as tx:
            ids = [row[0] for row in await tx.fetchall(
                f"SELECT id FROM {rule.table} WHERE {_where(rule)} LIMIT ?", (cutoff, batch_size))]
            if ids:
                marks = ",".join("?" * len(ids))
                for table, column in children:
                    await tx.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)
                await tx.execute(f"DELETE FROM {rule.table} WHERE id IN ({marks})", ids)
        total += len(ids)
        if len(ids) < batch_size:
            return total
        await asyncio.sleep(0)  # other writers get the lock between batches


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class RetentionJob:
    """The daily purge inside the app: first run shortly after start, then every `interval` seconds."""

    def __init__(self, db: Database, settings: Settings, *, interval: float = DAY_SECONDS,
                 first_delay: float = FIRST_RUN_DELAY_SECONDS, batch_size: int = BATCH_SIZE,
                 leases: JobLeases | None = None) -> None:
        self._db = db
        self._leases = leases or LocalLeases()  # several replicas: one of them purges each period
        self._settings = settings
        self.interval = interval
        self.first_delay = first_delay
        self.batch_size = batch_size
        self.last_report: PurgeReport | None = None
        self.last_run_at: float | None = None
        self.runs = 0
        self.purged_total: Counter[str] = Counter()  # rule name -> rows removed since start
        self._task: asyncio.Task[None] | None = None
        self._ran = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(
            run_leased(self._leases, "retention", self.run_once, interval=self.interval, first_delay=self.first_delay),
            name="retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def run_once(self) -> PurgeReport:
        report = await purge(self._db, self._settings, batch_size=self.batch_size)
        self.last_report, self.last_run_at = report, time.time()
        self.runs += 1
        self.purged_total.update(report.counts)
        self._ran.set()
        return report

    async def wait_for_run(self, timeout: float) -> PurgeReport | None:
        """For tests and operators: wait until the job has run at least once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ran.wait(), timeout)
        return self.last_report

    def status(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval, "runs": self.runs,
            "last_run_at": _iso(self.last_run_at) if self.last_run_at else None,
            "last": self.last_report.as_dict() if self.last_report else None,
            "policy": kv(conversations_days=self._settings.conversations_retention_days,
                         events_days=self._settings.events_retention_days,
                         orders_days=self._settings.orders_retention_days or "keep",
                         sent_notifications_days=self._settings.outbox_retention_days),
        }
