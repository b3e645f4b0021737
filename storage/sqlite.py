"""SQLite through one aiosqlite connection: the embedded default for a single cafe.

SQLite allows one writer at a time: every write transaction goes through one
aiosqlite connection (its own thread, requests in order) and one asyncio lock, so
transactions never interleave. Reads outside a transaction go through a second,
read-only connection: on the writer's connection a read would see another
coroutine's transaction half done (its first UPDATE but not its second, or rows
it then rolls back), and with WAL a reader sees only what is committed and never
waits for the writer. WAL mode also lets other processes (the `purge` or `slo`
commands) read while the bot writes. An in-memory database (benchmarks) cannot
be shared between connections; it reads through the writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.dialect import Backend, Params, Row, Transaction


class SqliteTransaction(Transaction):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__()
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._conn.execute(sql, params) as cur:
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return _first(await self._conn.execute_fetchall(sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class SqliteBackend(Backend):
    name = "sqlite"
    schema_migrations_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
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
        if str(self.path) != ":memory:":
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            self._reader.row_factory = aiosqlite.Row
            await self._reader.execute("PRAGMA query_only=ON")
            await self._reader.execute("PRAGMA busy_timeout=5000")

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._conn is not None:
            async with self._write_lock:
                await self._conn.close()
            self._conn = None

    @property
    def reader(self) -> aiosqlite.Connection:
        """The connection for reads outside a transaction: only committed rows."""
        return self._reader if self._reader is not None else self.conn

    # One trip to the connection's thread per read (`execute_fetchall`), not three (execute, fetch, close): each
    # trip hands the GIL back and forth, and under a rush of cached answers those trips were the biggest cost of
    # the turn's reads (bench/rush.py). A read through fetchone returns one row (a key, a LIMIT or an aggregate).
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return _first(await self.reader.execute_fetchall(sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.reader.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction (BEGIN IMMEDIATE: the write lock up front); commits on success."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            tx = SqliteTransaction(self.conn)
            try:
                yield tx
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")
        tx.committed()

    async def table_exists(self, name: str) -> bool:
        return await self.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None

    def describe(self) -> str:
        return f"sqlite:///{self.path}"


def _first(rows: Iterable[Row]) -> Row | None:
    return next(iter(rows), None)
