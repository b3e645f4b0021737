"""Data retention: exactly the old conversations and events go, orders stay, --dry-run removes nothing."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from bot.ops.retention import DAY_SECONDS, RetentionJob, purge
from storage.db import Database
from testkit import ROOT
from testkit.settings import make_settings, subprocess_env

NOW = time.time()


def days_ago(days: float) -> float:
    return NOW - days * DAY_SECONDS


async def seed(db: Database) -> dict[str, set[int]]:
    """Synthetic rows around each cutoff; returns the ids that must survive the default policy."""
    keep: dict[str, set[int]] = {"dialogs": set(), "dialog_messages": set(), "agent_events": set()}

    async def dialog(user_id: int, message_ages: list[float]) -> int:
        dialog_id = await db.insert("INSERT INTO dialogs(user_id, started_at, last_message_at) VALUES (?, ?, ?) "
                                    "RETURNING id",
                                     (user_id, days_ago(max(message_ages)), days_ago(min(message_ages))))
        for age in message_ages:
            message_id = await db.insert(
                "INSERT INTO dialog_messages(dialog_id, user_id, role, content, created_at) "
                "VALUES (?, ?, 'user', ?, ?) RETURNING id",
                (dialog_id, user_id, f"said {age} days ago", days_ago(age)))
            if age < 180:
                keep["dialog_messages"].add(message_id)
        if min(message_ages) < 180:
            keep["dialogs"].add(dialog_id)
        return dialog_id

    await dialog(1, [400, 300, 200, 181])  # wholly old: dialog and messages go
    await dialog(2, [190, 185])  # old
    await dialog(3, [200, 100, 1])  # still in use: its 200-day-old message goes, the dialog stays
    await dialog(4, [179, 10])  # recent
    for age in (900, 500, 366, 364, 30, 0.5):
        event_id = await db.insert(
            "INSERT INTO agent_events(user_id, kind, latency_ms, source, model, prompt_version, created_at) "
            "VALUES (1, 'text', 120.0, 'llm', 'gpt-4o-mini', 'v1', ?) RETURNING id", (days_ago(age),))
        if age < 365:
            keep["agent_events"].add(event_id)
    return keep


ORDER_TABLES = ("orders", "order_items", "order_status_history", "outbox")


async def seed_orders(db: Database) -> dict[str, dict[int, float]]:
    """Orders of every age and state, each with an item, a history row and an outbox row.

    Returns, per table, each row's id and its order's age in days (negative for open orders,
    which no retention limit may remove).
    """
    rows: dict[str, dict[int, float]] = {table: {} for table in ORDER_TABLES}
    for n, (age, status) in enumerate([(4000, "completed"), (3000, "cancelled"), (3000, "new"),
                                       (2000, "completed"), (10, "completed"), (0.1, "accepted")]):
        ts = days_ago(age)
        order_id = await db.insert(
            "INSERT INTO orders(business_day, day_seq, user_id, chat_id, customer_name, status, pickup, note, "
            "currency, total_cents, menu_version, source, checkout_token, created_at, updated_at) "
            "VALUES (?, 1, 1, 1, 'Ana', ?, 'asap', '', 'EUR', 340, 'm1', 'buttons', ?, ?, ?) RETURNING id",
            (f"day-{n}", status, f"token-{n}", ts, ts))
        final = status in ("completed", "cancelled")
        tag = age if final else -age
        rows["orders"][order_id] = tag
        rows["order_items"][await db.insert(
            "INSERT INTO order_items(order_id, item_id, name, quantity, unit_price_cents, line_total_cents) "
            "VALUES (?, 'flat-white', 'Flat White', 1, 340, 340) RETURNING id", (order_id,))] = tag
        rows["order_status_history"][await db.insert(
            "INSERT INTO order_status_history(order_id, from_status, to_status, changed_by_name, changed_at) "
            "VALUES (?, NULL, ?, 'Ana', ?) RETURNING id", (order_id, status, ts))] = tag
        rows["outbox"][await db.insert(
            "INSERT INTO outbox(kind, chat_id, payload, order_id, status, next_attempt_at, created_at) "
            "VALUES ('order_card', -100, '{}', ?, 'delivered', ?, ?) RETURNING id", (order_id, ts, ts))] = tag
    return rows


async def ids(db: Database, table: str) -> set[int]:
    return {row[0] for row in await db.fetchall(f"SELECT id FROM {table}")}


async def test_purge_removes_exactly_the_old_conversations_and_events_and_no_order(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.orders_retention_days is None  # the default: orders are kept forever
    async with Database(settings.database_target) as db:
        keep = await seed(db)
        orders = await seed_orders(db)
        report = await purge(db, settings, batch_size=2, now=NOW)
        for table, survivors in keep.items():
            assert await ids(db, table) == survivors, table
        for table in ORDER_TABLES[:-1]:
            assert await ids(db, table) == set(orders[table]), table
        # delivered notifications are receipts: older than OUTBOX_RETENTION_DAYS (30) they go
        assert await ids(db, "outbox") == {row_id for row_id, age in orders["outbox"].items() if abs(age) < 30}
    assert report.counts == {"conversation_messages": 7, "conversations": 2, "agent_events": 3,
                             "sent_notifications": 4}
    assert report.kept["orders"] == "no retention limit set"


async def test_orders_retention_when_set_removes_only_old_finished_orders_with_their_rows(tmp_path: Path) -> None:
    """ORDERS_RETENTION_DAYS=2557 (7 years): finished orders older than that go; open orders never do."""
    settings = make_settings(tmp_path, orders_retention_days=2557)
    async with Database(settings.database_target) as db:
        await seed(db)
        orders = await seed_orders(db)
        report = await purge(db, settings, batch_size=1, now=NOW)
        for table in ORDER_TABLES[:-1]:
            expected = {row_id for row_id, age in orders[table].items() if age < 2557}
            assert await ids(db, table) == expected, table
        assert await ids(db, "outbox") == {row_id for row_id, age in orders["outbox"].items() if abs(age) < 30}
    assert report.counts["orders"] == 2  # the 4000-day completed and the 3000-day cancelled one
    assert report.counts["sent_notifications"] == 2  # the rest of the delivered rows over 30 days


async def test_old_sent_notifications_go_but_pending_ones_never_do(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, outbox_retention_days=7)
    async with Database(settings.database_target) as db:
        survivors, rows = set(), {}
        for status in ("pending", "sending", "delivered", "skipped", "failed"):
            for age in (400, 8, 6):
                row_id = await db.insert(
                    "INSERT INTO outbox(kind, chat_id, payload, status, next_attempt_at, created_at) "
                    "VALUES ('message', 42, '{\"text\": \"Order #001 is ready\"}', ?, ?, ?) RETURNING id",
                    (status, days_ago(age), days_ago(age)))
                rows[row_id] = (status, age)
                if status in ("pending", "sending") or age < 7:
                    survivors.add(row_id)
        report = await purge(db, settings, now=NOW)
        assert await ids(db, "outbox") == survivors
    assert report.counts["sent_notifications"] == 6  # delivered, skipped, failed at 400 and 8 days


async def test_dry_run_counts_and_removes_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, orders_retention_days=2557)
    async with Database(settings.database_target) as db:
        await seed(db)
        await seed_orders(db)
        before = {t: await ids(db, t) for t in ("dialogs", "dialog_messages", "agent_events", *ORDER_TABLES)}
        report = await purge(db, settings, dry_run=True, now=NOW)
        after = {t: await ids(db, t) for t in before}
    assert after == before
    assert report.dry_run and report.counts["agent_events"] == 3 and report.counts["conversation_messages"] == 7
    assert report.counts["orders"] == 2


async def test_limits_are_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, conversations_retention_days=30, events_retention_days=1)
    async with Database(settings.database_target) as db:
        await seed(db)
        report = await purge(db, settings, now=NOW)
        assert await db.fetchval("SELECT COUNT(*) FROM agent_events") == 1  # only the 12-hour-old one
        assert await db.fetchval("SELECT COUNT(*) FROM dialog_messages") == 2  # 10 days and 1 day old
    assert report.counts["agent_events"] == 5


async def test_daily_job_inside_the_app_purges_and_reports(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with Database(settings.database_target) as db:
        keep = await seed(db)
        job = RetentionJob(db, settings, first_delay=0, interval=3600)
        await job.start()
        try:
            report = await job.wait_for_run(timeout=10)
        finally:
            await job.stop()
        assert report is not None and report.counts["agent_events"] == 3
        assert await ids(db, "agent_events") == keep["agent_events"]
    assert job.status()["runs"] == 1 and job.purged_total["conversations"] == 2


async def run_purge(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "purge", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_purge_command_dry_run_then_purge(tmp_path: Path) -> None:
    path = make_settings(tmp_path).database_target  # SQLite in tmp_path, or this test's PostgreSQL schema
    async with Database(path) as db:
        keep = await seed(db)
        orders = await seed_orders(db)
    env = subprocess_env(DATABASE_URL=path)
    code, out = await run_purge(["--dry-run"], env)
    assert code == 0 and "would remove" in out.lower() and "agent_events" in out
    async with Database(path) as db:
        assert await db.fetchval("SELECT COUNT(*) FROM agent_events") == 6
    code, out = await run_purge(["--json"], env)
    assert code == 0, out
    report = json.loads(out[out.index("{"):])
    assert report["counts"] == {"conversation_messages": 7, "conversations": 2, "agent_events": 3,
                                "sent_notifications": 4}
    async with Database(path) as db:
        for table, survivors in keep.items():
            assert await ids(db, table) == survivors
        for table in ORDER_TABLES[:-1]:
            assert await ids(db, table) == set(orders[table])


async def test_purge_command_without_a_database_says_so(tmp_path: Path) -> None:
    code, out = await run_purge([], subprocess_env(DATABASE_PATH=str(tmp_path / "missing.db")))
    assert code == 1 and "no database" in out
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("bad", ["0", "-5"])
async def test_purge_command_refuses_a_bad_batch_size(tmp_path: Path, bad: str) -> None:
    code, out = await run_purge(["--batch-size", bad], subprocess_env(DATABASE_PATH=str(tmp_path / "x.db")))
    assert code == 2 and "batch-size" in out
