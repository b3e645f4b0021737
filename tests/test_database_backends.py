"""The same repositories on SQLite and on PostgreSQL, in one run: each test runs once per engine.

PostgreSQL is TEST_DATABASE_URL's server (else this machine's, testkit.database.DEFAULT_POSTGRES_URL),
a fresh schema per test; the postgresql cases are skipped when no server answers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.config import ConfigError
from bot.knowledge.loader import load_menu
from bot.orders.models import OrderLine, OrderStatus
from storage.agent_events import AgentEvent, AgentEventRepository
from storage.db import Database, Transaction, migration_files, now
from storage.dialogs import DialogRepository
from storage.knowledge import KnowledgeRepository
from storage.orders import OrderRepository
from storage.outbox import URGENT, OutboxRepository
from storage.postgres import numbered, redact
from storage.runtime_settings import RuntimeSettingsRepository
from storage.semantic import Generation, SemanticCacheRepository, StoredEntry
from storage.users import UserRepository
from testkit import ROOT
from testkit.database import DEFAULT_POSTGRES_URL, TEST_DATABASE_URL, postgres_reachable, postgres_schema
from testkit.settings import make_settings

BIG_ID = 7_000_000_123  # Telegram user ids outgrew 32 bits
GROUP = -1_001_234_567_890  # a supergroup's chat id
TABLES = ("users", "runtime_settings", "knowledge_snapshots", "menu_items", "dialogs", "dialog_messages",
          "agent_events", "cart_items", "checkouts", "orders", "order_items", "order_status_history", "outbox",
          "semantic_cache")


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        async with Database(tmp_path / "bot.db") as database:
            yield database
        return
    base = os.environ.get(TEST_DATABASE_URL) or DEFAULT_POSTGRES_URL
    why = postgres_reachable(base)
    if why is not None:
        pytest.skip(f"no PostgreSQL at {redact(base)}: {why}")
    with postgres_schema(base) as url:
        async with Database(url) as database:
            yield database


async def test_migrations_build_the_same_tables_once(db: Database) -> None:
    assert db.dialect in ("sqlite", "postgresql")
    for table in TABLES:
        assert await db.table_exists(table), table
    assert not await db.table_exists("no_such_table")
    applied = [r["name"] for r in await db.fetchall("SELECT name FROM schema_migrations ORDER BY name")]
    assert applied == [name for name, _ in migration_files(db.dialect)]
    assert await db.migrate() == []  # a second start applies nothing
    assert await db.ping()


def test_every_dialect_file_overrides_a_migration_of_the_same_name() -> None:
    base = {p.name for p in (ROOT / "storage" / "migrations").glob("*.sql")}
    overrides = {p.name for p in (ROOT / "storage" / "migrations" / "postgresql").glob("*.sql")}
    assert overrides <= base
    assert [n for n, _ in migration_files("postgresql")] == [n for n, _ in migration_files("sqlite")]


async def test_users_keep_64_bit_ids_and_float_timestamps(db: Database) -> None:
    users = UserRepository(db)
    await users.touch(BIG_ID, "ana", "Ana", "en")
    await users.touch(BIG_ID, "ana", "Ana", "de")  # the upsert
    user = await users.get(BIG_ID)
    assert user is not None and user.id == BIG_ID and user.language_code == "de"
    assert isinstance(user.last_seen_at, float) and user.last_seen_at >= user.created_at
    assert [u.id for u in await users.recently_active(60)] == [BIG_ID]
    assert await users.count() == 1


async def test_a_turn_whose_dialog_is_known_is_one_transaction_with_its_event(db: Database) -> None:
    """The agent passes the dialog it found at the start of the turn: no second lookup, the event in the same
    transaction; a dialog ended meanwhile (/reset) is not continued."""
    dialogs, events = DialogRepository(db), AgentEventRepository(db)
    event = AgentEvent(BIG_ID, "text", 5.0, "cache", "m", "v1")
    first = await dialogs.append_turn(BIG_ID, 1800, "Oat milk?", "Yes.", known=(None,), event=event)
    assert await dialogs.active_id(BIG_ID, 1800) == first
    assert await dialogs.append_turn(BIG_ID, 1800, "Soy?", "No.", known=(first,), event=event) == first
    assert [m.content for m in await dialogs.history(BIG_ID, 1800, 10, dialog_id=first)] == [
        "Oat milk?", "Yes.", "Soy?", "No."]
    assert await dialogs.reset(BIG_ID)
    second = await dialogs.append_turn(BIG_ID, 1800, "Hi", "Hello", known=(first,), event=event)
    assert second != first and await dialogs.active_id(BIG_ID, 1800) == second
    assert len(await events.recent(user_id=BIG_ID)) == 3


async def test_turns_written_at_the_same_moment_commit_together_and_a_bad_one_fails_alone(db: Database) -> None:
    """Group commit (storage/group_commit.py): thirty customers' turns at once each get their own dialog and
    event, every caller returns with its turn committed, and a turn the database refuses (an event without
    its kind) fails only its own caller, not the others written in the same transaction."""
    dialogs, events, users = DialogRepository(db), AgentEventRepository(db), UserRepository(db)
    customers = [BIG_ID + n for n in range(30)]
    bad = customers[7]

    async def turn(user_id: int) -> int:
        await users.touch(user_id, None, f"User{user_id}", "en")
        kind: Any = None if user_id == bad else "text"  # NOT NULL in the table: the database refuses it
        event = AgentEvent(user_id, kind, 5.0, "cache", "m", "v1")
        return await dialogs.append_turn(user_id, 1800, "Oat milk?", "Yes.", known=(None,), event=event)

    results = await asyncio.gather(*(turn(c) for c in customers), return_exceptions=True)
    failed = [c for c, r in zip(customers, results, strict=True) if isinstance(r, BaseException)]
    assert failed == [bad]
    ids = [r for r in results if isinstance(r, int)]
    assert len(set(ids)) == 29
    for user_id, dialog_id in zip(customers, results, strict=True):
        if user_id != bad:
            assert await dialogs.active_id(user_id, 1800) == dialog_id
            assert [m.content for m in await dialogs.history(user_id, 1800, 10)] == ["Oat milk?", "Yes."]
            assert [e.kind for e in await events.recent(user_id=user_id)] == ["text"]
    assert await dialogs.history(bad, 1800, 10) == [] and await events.recent(user_id=bad) == []
    assert await users.count() == 30


async def test_dialogs_events_and_runtime_settings(db: Database) -> None:
    dialogs = DialogRepository(db)
    first = await dialogs.append_turn(BIG_ID, 1800, "Do you have oat milk?", "Yes.")
    assert await dialogs.append_turn(BIG_ID, 1800, "And soy?", "No.") == first
    history = await dialogs.history(BIG_ID, 1800, 10)
    assert [(m.role, m.content) for m in history] == [
        ("user", "Do you have oat milk?"), ("assistant", "Yes."), ("user", "And soy?"), ("assistant", "No.")]
    assert await dialogs.reset(BIG_ID) and not await dialogs.reset(BIG_ID)
    assert await dialogs.append_turn(BIG_ID, 1800, "Hi", "Hello") != first

    events = AgentEventRepository(db)
    ids = [await events.record(AgentEvent(BIG_ID, "text", 12.34, "llm", "m", "v1", tokens_in=10, tokens_out=5))
           for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert await events.tokens_since(0) == 45 and await events.tokens_since(0, user_id=1) == 0
    assert [e.latency_ms for e in await events.recent(user_id=BIG_ID)] == [12.3] * 3

    settings = RuntimeSettingsRepository(db)
    await settings.set("rate_limit_messages", "5", updated_by=BIG_ID)
    await settings.set("rate_limit_messages", "6")
    assert await settings.get_all() == {"rate_limit_messages": "6"}
    await settings.delete("rate_limit_messages")
    assert await settings.get_all() == {}


async def test_knowledge_and_semantic_cache(db: Database) -> None:
    menu, raw = load_menu(ROOT / "data" / "menu.yaml")
    knowledge = KnowledgeRepository(db)
    await knowledge.save_menu(menu, raw)
    await knowledge.save_menu(menu, raw)  # the snapshot is replaced, the rows rewritten
    last = await knowledge.last_menu()
    assert last is not None and last.version == menu.version
    assert await db.fetchval("SELECT COUNT(*) FROM menu_items") == len(menu.items())

    cache = SemanticCacheRepository(db)
    gen = Generation("p1", "m1", "e1", "l1")
    vector = np.arange(4, dtype=np.float32) / 3

    def entry(answer: str, created: float) -> StoredEntry:
        return StoredEntry("k1", "oat milk?", answer, vector, gen, "chat", created, created + 100, created)

    await cache.upsert([entry("yes", 10.0)])
    await cache.insert_new([entry("theirs", 11.0)])  # ours stays
    await cache.record_use([("k1", 50.0, 2), ("k1", 20.0, 1)])  # last use only moves forward
    [loaded] = await cache.load(gen, now=0.0)
    assert loaded.answer == "yes" and loaded.hits == 3 and loaded.last_used_at == 50.0
    assert np.array_equal(loaded.vector, vector)
    await cache.upsert([entry("yes, oat and soy", 12.0)])
    assert [e.answer for e in await cache.load(gen, now=0.0)] == ["yes, oat and soy"]
    assert await cache.delete_other_generations(Generation("p2", "m1", "e1", "l1")) == 1


LINES = [OrderLine("cappuccino", "Cappuccino", "large", 2, 390, 780)]


async def _place(orders: OrderRepository, outbox: OutboxRepository, db: Database, token: str,
                 fail: bool = False) -> int:
    async with db.transaction() as tx:
        order_id = await orders.insert_order(
            tx, business_day="2026-06-01", user_id=BIG_ID, chat_id=BIG_ID, customer_name="Ana", pickup="asap",
            note="", currency="EUR", menu_version="m1", source="buttons", checkout_token=token,
            staff_chat_id=GROUP, lines=LINES, changed_by_name="Ana")
        await outbox.add(tx, kind="order_card", chat_id=GROUP, payload={"order_id": order_id}, order_id=order_id,
                         dedupe_key=f"card:{order_id}", priority=URGENT)
        if fail:
            raise RuntimeError("the process died before commit")
    return order_id


async def test_an_order_and_its_notification_commit_together_or_not_at_all(db: Database) -> None:
    orders, outbox = OrderRepository(db), OutboxRepository(db)
    order_id = await _place(orders, outbox, db, "t1")
    with pytest.raises(RuntimeError):
        await _place(orders, outbox, db, "t2", fail=True)
    assert await db.fetchval("SELECT COUNT(*) FROM orders") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM order_items") == 1
    assert [r["order_id"] for r in await db.fetchall("SELECT order_id FROM outbox")] == [order_id]

    order = await orders.get(order_id)
    assert order is not None and order.day_seq == 1 and order.total_cents == 780 and order.staff_chat_id == GROUP
    assert [h.to_status for h in order.history] == [OrderStatus.NEW]
    async with db.transaction() as tx:  # a pending card with the same key is reused, not duplicated
        again = await outbox.add(tx, kind="order_card", chat_id=GROUP, payload={"order_id": order_id},
                                 order_id=order_id, dedupe_key=f"card:{order_id}")
        assert await orders.order_id_for_token(tx, "t1") == order_id
        assert await orders.change_status(tx, order_id, OrderStatus.NEW, OrderStatus.ACCEPTED, BIG_ID, "Bo")
        assert not await orders.change_status(tx, order_id, OrderStatus.NEW, OrderStatus.ACCEPTED, BIG_ID, "Bo")
    [row] = await outbox.due(10)
    assert again == row.id and row.chat_id == GROUP and row.payload == {"order_id": order_id}
    assert await outbox.claim(row.id, 60) and not await outbox.claim(row.id, 60)

    async def remember(tx: Transaction) -> None:
        await orders.set_staff_message(tx, order_id, GROUP, 555)

    await outbox.mark_delivered(row.id, 555, also=remember)
    delivered = await outbox.get(row.id)
    placed = await orders.get(order_id)
    assert delivered is not None and delivered.status == "delivered" and delivered.message_id == 555
    assert placed is not None and placed.staff_message_id == 555 and placed.status == OrderStatus.ACCEPTED
    stats = await outbox.stats()
    assert stats.delivered == 1 and stats.pending == 0


def _same_database(db: Database) -> str | Path:
    """What a second replica would open: the same file, or the same PostgreSQL schema (its own pool)."""
    target: str | Path = getattr(db.backend, "url" if db.dialect == "postgresql" else "path")
    return target


async def test_two_replicas_claiming_the_outbox_deliver_every_row_exactly_once(db: Database) -> None:
    rows = 40
    async with db.transaction() as tx:
        for n in range(rows):  # one chat each, so every row is due at once
            await OutboxRepository(db).add(tx, kind="customer_status", chat_id=BIG_ID + n, payload={"n": n})
    claimed: list[tuple[int, int]] = []

    async def replica(name: int, database: Database) -> None:
        outbox = OutboxRepository(database)

        async def worker() -> None:
            while due := await outbox.due(50):
                for row in due:
                    if await outbox.claim(row.id, 60):
                        claimed.append((name, row.id))
                        await asyncio.sleep(0.005)  # sending
                        await outbox.mark_delivered(row.id, 1000 + row.id)

        await asyncio.gather(*(worker() for _ in range(3)))

    async with Database(_same_database(db)) as other:
        await asyncio.gather(replica(1, db), replica(2, other))
        if db.dialect == "postgresql":  # a row being claimed elsewhere is skipped at once, not waited for
            async with other.transaction() as tx:
                row_id = await OutboxRepository(other).add(tx, kind="customer_status", chat_id=GROUP, payload={})
            async with other.transaction() as tx:
                await tx.fetchval("SELECT id FROM outbox WHERE id = ? FOR UPDATE", (row_id,))
                assert not await asyncio.wait_for(OutboxRepository(db).claim(row_id, 60), 2)
            assert await OutboxRepository(db).claim(row_id, 60)
    ids = [row_id for _name, row_id in claimed]
    assert len(ids) == len(set(ids)) == rows  # every row claimed, never one twice
    assert await db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'delivered' AND attempts = 1") == rows
    assert {name for name, _ in claimed} == {1, 2}  # both replicas took part


async def test_a_row_kept_back_until_later_holds_up_nothing_in_its_chat(db: Database) -> None:
    """`not_before` is on the calendar clock (here a day in 2027, whatever the wall clock says)."""
    outbox, calendar = OutboxRepository(db), 1_800_000_000.0
    async with db.transaction() as tx:  # the oldest row, and urgent: the chat's head, were it not kept back
        later = await outbox.add(tx, kind="order_reminder", chat_id=GROUP, payload={}, order_id=7, priority=URGENT,
                                 not_before=calendar + 3600)
        first = await outbox.add(tx, kind="message", chat_id=GROUP, payload={"text": "first"})
        second = await outbox.add(tx, kind="message", chat_id=GROUP, payload={"text": "second"})
    assert [r.id for r in await outbox.due(10, calendar=calendar)] == [first]  # in order behind it, not blocked
    assert not await outbox.claim(later, 60, calendar=calendar)
    stats = await outbox.stats(calendar=calendar)
    assert (stats.pending, stats.scheduled) == (2, 1)
    assert (await outbox.next_due_at(calendar=calendar) or 0) <= now()
    for row_id in (first, second):
        assert await outbox.claim(row_id, 60, calendar=calendar)
        await outbox.mark_delivered(row_id, 1)
    assert await outbox.due(10, calendar=calendar) == []
    assert now() + 3590 < (await outbox.next_due_at(calendar=calendar) or 0) <= now() + 3600
    [row] = await outbox.due(10, calendar=calendar + 3600)
    assert row.id == later and row.not_before == calendar + 3600
    assert await outbox.claim(later, 60, calendar=calendar + 3600)
    async with db.transaction() as tx:  # an order finished before its reminder: the row is dropped
        dropped = await outbox.add(tx, kind="order_reminder", chat_id=GROUP, payload={}, order_id=8,
                                   not_before=calendar + 7200)
        assert await outbox.skip_pending(tx, 8, "order_reminder") == 1
    skipped = await outbox.get(dropped)
    assert skipped is not None and skipped.status == "skipped"
    assert (await outbox.stats(calendar=calendar)).scheduled == 0


async def test_concurrent_orders_get_distinct_numbers_of_the_day(db: Database) -> None:
    orders, outbox = OrderRepository(db), OutboxRepository(db)
    ids = await asyncio.gather(*(_place(orders, outbox, db, f"t{n}") for n in range(6)))
    numbers = {r["day_seq"] for r in await db.fetchall("SELECT day_seq FROM orders")}
    assert len(set(ids)) == 6 and numbers == set(range(1, 7))


async def test_cart_upsert_and_checkout_replace(db: Database) -> None:
    orders = OrderRepository(db)
    async with db.transaction() as tx:
        line = await orders.add_cart_quantity(tx, BIG_ID, "cappuccino", "large", 2)
        assert await orders.add_cart_quantity(tx, BIG_ID, "cappuccino", "large", 3) == line
        assert await orders.set_cart_quantity(tx, BIG_ID, line, 4)
        assert not await orders.set_cart_quantity(tx, BIG_ID + 1, line, 1)  # not theirs
    assert [(r["item_id"], r["quantity"]) for r in await orders.cart_rows(BIG_ID)] == [("cappuccino", 4)]
    await orders.start_checkout(BIG_ID, BIG_ID, "tok1", "buttons")
    assert await orders.update_checkout(BIG_ID, "tok1", step="note", pickup="12:30")
    await orders.start_checkout(BIG_ID, BIG_ID, "tok2", "agent")  # a new checkout replaces the old one
    checkout = await orders.checkout(BIG_ID)
    assert checkout is not None and checkout.token == "tok2" and checkout.pickup is None
    assert not await orders.update_checkout(BIG_ID, "tok1", step="confirm")  # a stale button changes nothing


def test_placeholders_are_numbered_outside_quotes_and_comments() -> None:
    sql = "SELECT '?', \"a?\" FROM t WHERE a = ? -- why?\n AND b IN (?, ?) /* ? */"
    assert numbered(sql) == "SELECT '?', \"a?\" FROM t WHERE a = $1 -- why?\n AND b IN ($2, $3) /* ? */"


def test_database_url_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url="")
    assert settings.database_target == f"sqlite:///{tmp_path / 'bot.db'}"
    assert settings.sqlite_file == tmp_path / "bot.db"
    pg = make_settings(tmp_path, database_url="postgresql://bot:s3cret-pw@db.example:5432/cafe")
    assert pg.database_target.startswith("postgresql://") and pg.sqlite_file is None
    assert "s3cret-pw" in pg.secret_values()  # blanked in logs
    assert redact(pg.database_url) == "postgresql://bot:***@db.example:5432/cafe"
    for bad in ("mysql://x/y", "postgresql://", "postgresql://host", "postgresql://h:port/db", "sqlite:///"):
        with pytest.raises(ConfigError, match=r"^DATABASE_URL: "):
            make_settings(tmp_path, database_url=bad)


def test_doctor_checks_a_postgresql_database_without_showing_its_password(tmp_path: Path) -> None:
    from bot.doctor import check_database

    closed = check_database(make_settings(tmp_path, database_url="postgresql://bot:s3cret-pw@127.0.0.1:1/cafe"))
    assert closed.status == "fail" and "s3cret-pw" not in closed.detail and "DATABASE_URL" in closed.fix
    base = os.environ.get(TEST_DATABASE_URL) or DEFAULT_POSTGRES_URL
    if postgres_reachable(base) is not None:
        pytest.skip(f"no PostgreSQL at {redact(base)}")
    with postgres_schema(base) as url:
        fresh = check_database(make_settings(tmp_path, database_url=url))
    assert fresh.status == "ok", fresh.detail
    assert f"{len(migration_files('postgresql'))} migration(s) applied at next start" in fresh.detail


async def test_after_commit_runs_once_committed_and_never_on_rollback(db: Database) -> None:
    seen: list[int | None] = []

    async def count_users() -> None:
        seen.append(await db.fetchval("SELECT COUNT(*) FROM users WHERE id = ?", (BIG_ID,)))

    tasks: list[asyncio.Task[None]] = []
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO users(id, created_at, last_seen_at) VALUES (?, 1, 1)", (BIG_ID,))
        tx.after_commit(lambda: tasks.append(asyncio.create_task(count_users())))
        assert tasks == []
    await asyncio.gather(*tasks)
    assert seen == [1]  # whoever the callback wakes sees the rows
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            tx.after_commit(lambda: seen.append(None))
            raise RuntimeError("rolled back")
    assert seen == [1]


async def test_a_read_outside_a_transaction_sees_only_what_is_committed(db: Database) -> None:
    """A reader never sees another coroutine's transaction half done: on SQLite's single writer
    connection it once did, and saw an outbox row delivered before the same transaction wrote the
    order's staff message id (tests/test_outbox_e2e.py's restart test, about one run in six)."""
    users = UserRepository(db)
    await users.touch(BIG_ID, "ana", "Ana", "en")

    async def language() -> str | None:
        return await db.fetchval("SELECT language_code FROM users WHERE id = ?", (BIG_ID,))

    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("UPDATE users SET language_code = 'de' WHERE id = ?", (BIG_ID,))
            assert await tx.fetchone("SELECT 1 FROM users WHERE language_code = 'de'") is not None
            assert await language() == "en"  # half done: not visible outside
            raise RuntimeError("rolled back")
    assert await language() == "en"
    async with db.transaction() as tx:
        await tx.execute("UPDATE users SET language_code = 'de' WHERE id = ?", (BIG_ID,))
        assert await language() == "en"
    assert await language() == "de"  # committed: visible at once
