"""PostgreSQL through an asyncpg pool: for a busy cafe, a chain, or several bot processes.

asyncpg speaks PostgreSQL's binary protocol itself (no libpq), has its own pool and
prepares each statement once per connection; it takes `$1, $2, ...` placeholders, so
the repositories' `?` are numbered here, in one place (`numbered`), and values always
travel as parameters, never inside the SQL text.

Write transactions take one transaction-scoped advisory lock first, so they run one
at a time as they do on SQLite: the read-then-write steps inside them (the day's next
order number, a cart's current lines) stay correct without per-statement locking.
Single statements outside a transaction (most writes) run in parallel on the pool.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.dialect import Backend, Params, Row, Transaction

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
# pg_advisory_xact_lock key of the write transactions ("cafe" in ASCII): one writer at a time.
WRITE_LOCK_KEY = 0x63616665

# A quoted string, a quoted identifier, a comment, or a placeholder; only the last is rewritten.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.DOTALL)


@lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, ...` (a `?` inside quotes or a comment is left alone)."""
    counter = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    return _TOKENS.sub(replace, sql)


def _rowcount(status: str) -> int:
    """asyncpg's command tag ("UPDATE 3", "INSERT 0 1", "DELETE 0") as a row count."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresTransaction(Transaction):
    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__()
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return _rowcount(await self._conn.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(numbered(sql), [tuple(r) for r in rows])

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._conn.fetchrow(numbered(sql), *params)
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.fetch(numbered(sql), *params))


class PostgresBackend(Backend):
    name = "postgresql"
    schema_migrations_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self.pool.fetchrow(numbered(sql), *params)
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.pool.fetch(numbered(sql), *params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        return _rowcount(await self.pool.execute(numbered(sql), *params))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction on one pooled connection; commits on success, rolls back on any exception."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)
            tx = PostgresTransaction(conn)
            yield tx
        tx.committed()

    async def table_exists(self, name: str) -> bool:
        return await self.fetchone(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
            (name,),
        ) is not None

    def describe(self) -> str:
        return redact(self.url)


def redact(url: str) -> str:
    """The URL without its password (for logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
