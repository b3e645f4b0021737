"""The one owner of the database: SQLite (the default) or PostgreSQL, chosen by a URL.

`Database(target)` takes `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`,
`postgresql://user:password@host:5432/dbname` or a plain file path (SQLite). The
engines live in storage/sqlite.py and storage/postgres.py behind one interface
(storage/dialect.py): repositories write one SQL text with `?` placeholders and use
the `Transaction` handle inside transactions, never a driver's own connection.

Timestamps are REAL (SQLite) / DOUBLE PRECISION (PostgreSQL) UTC epoch seconds on
both, so every `created_at` reads back as the same float whichever engine stored it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.dialect import Backend, Params, Row, Transaction

if TYPE_CHECKING:
    from storage.advisory import AdvisoryLocks

log = logging.getLogger(__name__)

__all__ = ["Database", "Params", "Row", "Transaction", "now", "sqlite_path"]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def now() -> float:
    """Wall-clock seconds; every timestamp column stores this (REAL / DOUBLE PRECISION, UTC epoch)."""
    return time.time()


def sqlite_path(target: Path | str) -> Path | None:
    """The SQLite file a target names (a path or a sqlite:/// URL); None for PostgreSQL."""
    text = str(target)
    if text.startswith(POSTGRES_PREFIXES):
        return None
    return Path(text[len(SQLITE_PREFIX):]) if text.startswith(SQLITE_PREFIX) else Path(text)


def _backend(target: Path | str) -> Backend:
    path = sqlite_path(target)
    if path is not None:
        from storage.sqlite import SqliteBackend

        return SqliteBackend(path)
    from storage.postgres import PostgresBackend  # asyncpg is imported only when PostgreSQL is used

    return PostgresBackend(str(target))


class Database:
    def __init__(self, target: Path | str) -> None:
        self.backend = _backend(target)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.backend.name

    def describe(self) -> str:
        """Where the data lives (a PostgreSQL URL without its password)."""
        return self.backend.describe()

    async def open(self) -> None:
        await self.backend.open()

    async def close(self) -> None:
        await self.backend.close()

    async def __aenter__(self) -> Database:
        await self.open()
        try:
            await self.migrate()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- statements -------------------------------------------------------------
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self.backend.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self.backend.fetchall(sql, params)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params = ()) -> None:
        """Run one write statement in its own transaction (an id: `insert`; a count: `execute_rowcount`)."""
        await self.backend.execute(sql, params)

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        return await self.backend.execute(sql, params)

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """An INSERT ... RETURNING id in its own transaction: the new row's id (None if a conflict skipped it)."""
        async with self.transaction() as tx:
            return await tx.insert(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction; commits on success, rolls back on any exception."""
        async with self.backend.transaction() as tx:
            yield tx

    async def table_exists(self, name: str) -> bool:
        """For code that spans features: a feature not installed has no tables."""
        return await self.backend.table_exists(name)

    def advisory_locks(self) -> AdvisoryLocks | None:
        """Locks for the periodic jobs on their own connection (PostgreSQL); None on SQLite (one process)."""
        if self.dialect != "postgresql":
            return None
        from storage.advisory import AdvisoryLocks
        from storage.postgres import PostgresBackend

        assert isinstance(self.backend, PostgresBackend)

        return AdvisoryLocks(self.backend.url)

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
        order and an existing database still upgrades in place. Each one is checked
        and applied inside a write transaction, so two processes starting at once
        (replicas on one PostgreSQL) apply it once.
        """
        async with self.transaction() as tx:
            await tx.execute(self.backend.schema_migrations_ddl)
        done: list[str] = []
        for name, sql in migration_files(self.dialect):
            async with self.transaction() as tx:
                if await tx.fetchone("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)) is not None:
                    continue
                for statement in _split_statements(sql):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", (name, now()))
            done.append(name)
            log.info("applied migration %s", name)
        return done


def migration_files(dialect: str) -> list[tuple[str, str]]:
    """(name, SQL) of every migration, in name order, as the dialect runs it.

    storage/migrations/*.sql is the list (and SQLite's text); a file of the same name in
    storage/migrations/<dialect>/ replaces it where the SQL must differ (PostgreSQL's
    BIGINT ids, identity columns, DOUBLE PRECISION timestamps, BYTEA). A portable
    migration (an ALTER TABLE ... ADD COLUMN of TEXT, an index) needs no second file.
    """
    folder = resources.files("storage") / "migrations"
    overrides = folder / dialect
    files = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        override = overrides / entry.name
        source = override if override.is_file() else entry
        files.append((entry.name, source.read_text(encoding="utf-8")))
    return sorted(files)


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
