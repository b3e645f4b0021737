"""What every database engine offers the repositories: statements, rows and transactions.

Repositories write one SQL text for both engines, with `?` placeholders and portable
constructs (ON CONFLICT ... DO UPDATE/NOTHING, RETURNING, CASE); an engine's module
(storage/sqlite.py, storage/postgres.py) turns that text into what its driver takes.
A repository never sees a driver's own connection or cursor: the transaction handle
below is the only way into a transaction, so the same code runs on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Params = Sequence[Any]


class Row(Protocol):
    """A result row: by column name or position, and `dict(row)` (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> Any: ...


class Transaction(ABC):
    """The statements of one transaction: all commit together or none does."""

    def __init__(self) -> None:
        self._after_commit: list[Callable[[], object]] = []

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback` once this transaction has committed; never if it rolls back.

        For waking whoever must read what it wrote (the outbox worker): woken earlier, a
        reader on another connection (PostgreSQL's pool) would not see the rows yet.
        """
        self._after_commit.append(callback)

    def committed(self) -> None:
        """Called by the backend right after COMMIT."""
        for callback in self._after_commit:
            callback()

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """An INSERT ... RETURNING id: the new row's id (None when ON CONFLICT DO NOTHING skipped it).

        Both engines return ids this way; SQLite's lastrowid has no PostgreSQL twin.
        """
        if "RETURNING" not in sql.upper():
            raise ValueError("insert() needs an INSERT ... RETURNING id statement")
        value = await self.fetchval(sql, params)
        return None if value is None else int(value)


class Backend(ABC):
    """One engine behind `storage.db.Database`: its connections, its dialect, its migrations folder."""

    name: str  # 'sqlite' | 'postgresql': also the name of its migrations override folder
    schema_migrations_ddl: str

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in its own transaction; the number of rows it changed."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    @abstractmethod
    async def table_exists(self, name: str) -> bool: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, for logs and errors (never a password)."""

