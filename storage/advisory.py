"""Session-level advisory locks on one dedicated PostgreSQL connection: who runs a periodic job.

Replicas on one PostgreSQL database without Redis still need the retention purge and the webhook
check to run on one of them at a time. `pg_try_advisory_lock` gives that with no table and no
clock: the lock belongs to the connection that took it, so it lasts exactly as long as the holder
lives. A replica that stops closes the connection (its jobs pass to another at once); one that dies
loses the connection when the server notices, and with it the lock. That is why the connection is
dedicated, not pooled: a pooled connection goes back to the pool with the lock still on it.

The lock's key is (JOBS_NAMESPACE, hashtext(current_schema() || ':' || name)): advisory locks are
per database, and two cafes' bots may share one database in different schemas (`?search_path=`),
so the schema is part of the key. The two-int form never meets the single-bigint write lock of
storage/postgres.py.
"""

from __future__ import annotations

import asyncpg

JOBS_NAMESPACE = 0x6A6F6273  # "jobs" in ASCII

_TRY = "SELECT pg_try_advisory_lock($1, hashtext(current_schema() || ':' || $2))"
_UNLOCK = "SELECT pg_advisory_unlock($1, hashtext(current_schema() || ':' || $2))"


class AdvisoryLocks:
    """Named locks held by this process on its own connection (opened at the first lock, reopened after a loss)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout
        self._conn: asyncpg.Connection | None = None
        self._held: set[str] = set()

    async def try_lock(self, name: str) -> bool:
        """True if this process holds `name` (now or already); False if another session holds it.

        A lock already held is confirmed by a round trip on its connection (the lock lives exactly as
        long as the connection). A connection found dead is replaced once and the lock asked for again;
        if that fails too, the error is raised.
        """
        try:
            return await self._try(name)
        except Exception:
            await self._drop()  # its locks went with it: ask again on a fresh connection
        try:
            return await self._try(name)
        except Exception:
            await self._drop()
            raise

    async def _try(self, name: str) -> bool:
        conn = await self._connection()
        if name in self._held:
            await conn.fetchval("SELECT 1", timeout=self._timeout)
            return True
        taken = bool(await conn.fetchval(_TRY, JOBS_NAMESPACE, name, timeout=self._timeout))
        if taken:
            self._held.add(name)
        return taken

    async def unlock(self, name: str) -> None:
        """Give `name` up (a no-op unless this process holds it)."""
        if name not in self._held or self._conn is None:
            return
        self._held.discard(name)
        try:
            await self._conn.fetchval(_UNLOCK, JOBS_NAMESPACE, name, timeout=self._timeout)
        except Exception:
            await self._drop()  # closing the connection releases the lock all the same
            raise

    async def close(self) -> None:
        """Release every lock (by closing the connection)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._held.clear()
            await conn.close(timeout=self._timeout)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and self._conn.is_closed():
            self._conn, self._held = None, set()  # the server or the network ended it: the locks went with it
        if self._conn is None:
            self._conn = await asyncpg.connect(self._url, timeout=self._timeout)
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            conn.terminate()
