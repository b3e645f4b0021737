"""`python main.py migrate-to-postgres`: a SQLite database filled by the real repositories, copied into a
fresh PostgreSQL schema by the real command, read back through the same repositories there.

PostgreSQL is TEST_DATABASE_URL's server (else this machine's); skipped when none answers (CI fails instead).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.knowledge.loader import load_menu
from bot.orders.models import OrderLine, OrderStatus
from storage.agent_events import AgentEvent, AgentEventRepository
from storage.db import Database, Transaction
from storage.dialogs import DialogRepository
from storage.knowledge import KnowledgeRepository
from storage.orders import OrderRepository
from storage.outbox import URGENT, OutboxRepository
from storage.postgres import redact
from storage.runtime_settings import RuntimeSettingsRepository
from storage.semantic import Generation, SemanticCacheRepository, StoredEntry
from storage.transfer import source_tables
from storage.users import UserRepository
from testkit import ROOT
from testkit.database import DEFAULT_POSTGRES_URL, TEST_DATABASE_URL, postgres_reachable, postgres_schema
from testkit.settings import subprocess_env
from tests.helpers import in_ci

BIG_ID = 7_000_000_123  # Telegram ids outgrew 32 bits
GROUP = -1_001_234_567_890
GEN = Generation("p1", "m1", "e1", "l1")
VECTOR = (np.arange(8, dtype=np.float32) / 7).astype(np.float32)
LINES = [OrderLine("cappuccino", "Cappuccino", "large", 2, 390, 780), OrderLine("croissant", "Croissant", "", 1, 250,
                                                                               250)]


@pytest.fixture
def postgres_url() -> str:
    base = os.environ.get(TEST_DATABASE_URL) or DEFAULT_POSTGRES_URL
    why = postgres_reachable(base)
    if why is not None:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {why}")
        pytest.skip(f"no PostgreSQL at {redact(base)}: {why}")
    return base


async def fill(db: Database) -> dict[str, int]:
    """A small cafe's database written the way the bot writes it; the ids the checks read back."""
    users, settings = UserRepository(db), RuntimeSettingsRepository(db)
    await users.touch(BIG_ID, "ana", "Ana", "de")
    await users.set_language(BIG_ID, "en")
    await users.touch(1001, None, "Bo", None)
    await settings.set("history_max_messages", "6", updated_by=BIG_ID)
    menu, raw = load_menu(ROOT / "data" / "menu.yaml")
    await KnowledgeRepository(db).save_menu(menu, raw)

    dialogs = DialogRepository(db)
    for i in range(30):
        await dialogs.append_turn(BIG_ID if i % 2 else 1001, 1800, f"question {i}", f"answer {i}")
    events = AgentEventRepository(db)
    for i in range(5):
        await events.record(AgentEvent(BIG_ID, "text", 100.0 + i, "llm", "gpt-4o-mini", "v1", tokens_in=10,
                                       tokens_out=5, error_class="timeout" if i == 4 else None))
    await SemanticCacheRepository(db).upsert([
        StoredEntry(f"k{i}", f"is the soup vegan {i}?", f"yes {i}", VECTOR + i, GEN, "chat", 10.0 + i, 1e12, 10.0 + i,
                    hits=i) for i in range(3)])

    orders, outbox = OrderRepository(db), OutboxRepository(db)
    async with db.transaction() as tx:
        await orders.add_cart_quantity(tx, 1001, "espresso", "", 2)
    await orders.start_checkout(1001, 1001, "tok-cart", "buttons")
    ids = {}
    for n in range(3):
        async with db.transaction() as tx:
            order_id = await orders.insert_order(
                tx, business_day="2026-06-01", user_id=BIG_ID, chat_id=BIG_ID, customer_name="Ana", pickup="08:15",
                note="oat milk" if n == 0 else "", currency="EUR", menu_version=menu.version, source="buttons",
                checkout_token=f"t{n}", staff_chat_id=GROUP, lines=LINES, changed_by_name="Ana")
            await outbox.add(tx, kind="order_card", chat_id=GROUP, payload={"order_id": order_id},
                             order_id=order_id, dedupe_key=f"card:{order_id}", priority=URGENT)
        ids[f"order{n}"] = order_id
    async with db.transaction() as tx:
        assert await orders.change_status(tx, ids["order0"], OrderStatus.NEW, OrderStatus.ACCEPTED, GROUP, "Staff")
    [first] = [row for row in await outbox.due(10) if row.order_id == ids["order0"]]
    assert await outbox.claim(first.id, 60)

    async def remember(tx: Transaction) -> None:  # the staff card's message id, as the outbox worker keeps it
        await orders.set_staff_message(tx, ids["order0"], GROUP, 555)

    await outbox.mark_delivered(first.id, 555, also=remember)
    ids["delivered_outbox"] = first.id
    return ids


async def migrate(source: Path, target: str, *extra: str) -> tuple[int, str]:
    """Exit code and standard output (the logs go to standard error)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "migrate-to-postgres", "--from", f"sqlite:///{source}",
        "--to", target, *extra, env=subprocess_env(), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode in (0, 1), err.decode()
    return proc.returncode or 0, out.decode()


async def test_a_sqlite_database_copied_to_postgres_reads_back_through_the_repositories(
    tmp_path: Path, postgres_url: str
) -> None:
    source_file = tmp_path / "bot.db"
    async with Database(source_file) as sqlite:
        ids = await fill(sqlite)
        tables = await source_tables(sqlite)
        counts = {t: await sqlite.fetchval(f'SELECT COUNT(*) FROM "{t}"') for t in tables}
        sqlite_order = await OrderRepository(sqlite).get(ids["order0"])
        sqlite_history = await DialogRepository(sqlite).history(BIG_ID, 1800, 100)

    with postgres_schema(postgres_url) as target:
        code, out = await migrate(source_file, target, "--json")
        assert code == 0, out
        report = json.loads(out)
        again_code, again_out = await migrate(source_file, target)  # a second run must not copy twice

        async with Database(target) as pg:
            copied = {t: await pg.fetchval(f'SELECT COUNT(*) FROM "{t}"') for t in tables}
            order = await OrderRepository(pg).get(ids["order0"])
            history = await DialogRepository(pg).history(BIG_ID, 1800, 100)
            user = await UserRepository(pg).get(BIG_ID)
            limits = await RuntimeSettingsRepository(pg).get_all()
            [entry, *_] = await SemanticCacheRepository(pg).load(GEN, now=0.0)
            menu = await KnowledgeRepository(pg).last_menu()
            delivered = await OutboxRepository(pg).get(ids["delivered_outbox"])
            outbox_stats = await OutboxRepository(pg).stats()
            [due] = await OutboxRepository(pg).due(10)  # one chat: its next card first
            events = await AgentEventRepository(pg).recent(user_id=BIG_ID)
            # the sequences continue after the copied ids: new rows get new ids, no duplicate key
            async with pg.transaction() as tx:
                new_order = await OrderRepository(pg).insert_order(
                    tx, business_day="2026-06-01", user_id=1001, chat_id=1001, customer_name="Bo", pickup="asap",
                    note="", currency="EUR", menu_version="m", source="agent", checkout_token="t-new",
                    staff_chat_id=GROUP, lines=LINES[:1], changed_by_name="Bo")
            new_dialog = await DialogRepository(pg).append_turn(4242, 1800, "hi", "hello")
            new_event = await AgentEventRepository(pg).record(AgentEvent(1001, "text", 1.0, "cache", "m", "v1"))

    assert report["ok"] is True and all(row["ok"] for row in report["tables"])
    assert {row["table"]: row["source"] for row in report["tables"]} == counts
    assert copied == counts
    assert [row["table"] for row in report["tables"]].index("orders") < [
        row["table"] for row in report["tables"]].index("order_items")  # parents before children
    for table in ("users", "orders", "order_items", "order_status_history", "outbox", "dialogs", "dialog_messages",
                  "agent_events", "semantic_cache", "menu_items", "knowledge_snapshots", "cart_items", "checkouts",
                  "runtime_settings"):
        assert counts[table] > 0, table  # the fill reached every table of the bot

    assert again_code == 1 and "refused" in again_out and "not empty" in again_out

    assert order is not None and sqlite_order is not None
    assert (order.id, order.day_seq, order.status, order.total_cents, order.note, order.staff_message_id) == (
        sqlite_order.id, sqlite_order.day_seq, OrderStatus.ACCEPTED, 1030, "oat milk", 555)
    assert [(line.item_id, line.size, line.quantity) for line in order.lines] == [
        (line.item_id, line.size, line.quantity) for line in sqlite_order.lines]
    assert [h.to_status for h in order.history] == [OrderStatus.NEW, OrderStatus.ACCEPTED]
    assert order.created_at == sqlite_order.created_at  # float epoch seconds kept exactly
    assert [(m.role, m.content) for m in history] == [(m.role, m.content) for m in sqlite_history]
    assert user is not None and user.id == BIG_ID and user.language == "en"
    assert limits == {"history_max_messages": "6"}
    assert np.array_equal(entry.vector, VECTOR) and entry.answer == "yes 0"
    assert menu is not None and menu.item("espresso") is not None
    assert delivered is not None and delivered.status == "delivered" and delivered.message_id == 555
    assert outbox_stats.pending == 2 and due.order_id == ids["order1"]  # the undelivered cards, due on PostgreSQL
    assert [e.error_class for e in events].count("timeout") == 1
    next_order = max(ids["order0"], ids["order1"], ids["order2"]) + 1
    assert report["sequences"]["orders.id"] == next_order == new_order
    assert new_event == counts["agent_events"] + 1
    assert new_dialog == counts["dialogs"] + 1


async def test_the_copy_refuses_a_target_a_bot_already_started_on_and_leaves_it_unchanged(
    tmp_path: Path, postgres_url: str
) -> None:
    source_file = tmp_path / "bot.db"
    async with Database(source_file) as sqlite:
        await UserRepository(sqlite).touch(1001, None, "Bo", None)
    with postgres_schema(postgres_url) as target:
        async with Database(target) as pg:  # a bot started on it: the schema and one customer
            await UserRepository(pg).touch(2002, None, "Cy", None)
        code, out = await migrate(source_file, target)
        async with Database(target) as pg:
            ids = [r["id"] for r in await pg.fetchall("SELECT id FROM users")]
    assert code == 1 and "refused" in out and "users" in out
    assert ids == [2002]
