"""The one owner of the SQLite connection.

SQLite allows one writer at a time; funnelling every statement through a single
aiosqlite connection (its own thread, requests in order) and every write
transaction through one asyncio lock keeps transactions from interleaving while
readers never wait on Python-side locks. WAL mode lets other processes (the
`purge` or `slo` commands) read while the bot writes.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

Row = aiosqlite.Row
Params = Sequence[Any] | dict[str, Any]


def now() -> float:
    """Wall-clock seconds; every timestamp column stores this (REAL, UTC epoch)."""
    return time.time()


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; transactions are explicit (BEGIN IMMEDIATE).
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")

    async def close(self) -> None:
        if self._conn is not None:
            async with self._write_lock:
                await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Database:
        await self.open()
        await self.migrate()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- statements -------------------------------------------------------------
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement in its own transaction; returns lastrowid."""
        async with self.transaction() as tx:
            cur = await tx.execute(sql, params)
            return cur.lastrowid or 0

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            cur = await tx.execute(sql, params)
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction; commits on success, rolls back on any exception."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def table_exists(self, name: str) -> bool:
        """For code that spans features: a feature not installed has no tables."""
        return await self.fetchval("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) == 1

    async def ping(self) -> bool:
        try:
            return await self.fetchval("SELECT 1") == 1
        except Exception:
            return False

    # --- migrations ---------------------------------------------------------------
    async def migrate(self) -> list[str]:
        """Apply every migration in storage/migrations not yet recorded.

        Migrations are tracked by file name rather than a single version number, so
        features developed in parallel can add their numbered files in any landing
        order and an existing database still upgrades in place.
        """
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        applied = {r["name"] for r in await self.fetchall("SELECT name FROM schema_migrations")}
        done: list[str] = []
        for name, sql in _migration_files():
            if name in applied:
                continue
            async with self.transaction() as tx:
                for statement in _split_statements(sql):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", (name, now()))
            done.append(name)
            log.info("applied migration %s", name)
        return done


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("storage") / "migrations"
    files = sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )
    return files


def _split_statements(sql: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:80]}")
    return statements
