"""Tests on PostgreSQL: each test gets a schema of its own in the database TEST_DATABASE_URL names.

With TEST_DATABASE_URL unset every test uses a SQLite file in its tmp_path (the default).
With it set (`TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test pytest ...`),
the conftest's autouse fixture creates a fresh schema before each test, points
TEST_DATABASE_SCHEMA_URL at it (the URL with `?search_path=<schema>`, which asyncpg
passes to the server) and drops it afterwards; `make_settings` then returns settings
whose DATABASE_URL is that URL. A schema costs a few milliseconds where a database
would cost a copy of template1.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TEST_DATABASE_URL = "TEST_DATABASE_URL"  # the PostgreSQL database the tests may use (unset: SQLite)
SCHEMA_URL = "TEST_DATABASE_SCHEMA_URL"  # the current test's schema in it, set by the fixture
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"  # this machine's (and CI's) server


def test_database_url() -> str | None:
    """The current test's database URL when the run is on PostgreSQL, else None (SQLite in tmp_path)."""
    return os.environ.get(SCHEMA_URL) or None


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"] + [("search_path", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _run(coro_factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion on a thread of its own (the caller may be inside a running loop)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_factory())
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _admin(url: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run(go)


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A new, empty schema in base_url's database for the block; dropped with everything in it after."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _admin(base_url, f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(base_url, schema)
    finally:
        _admin(base_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def postgres_reachable(url: str) -> str | None:
    """None if a connection to url works, else why not (for a skip message)."""
    try:
        _admin(url, "SELECT 1")
    except Exception as exc:  # any connection failure means "not here"
        return f"{type(exc).__name__}: {exc}"
    return None
