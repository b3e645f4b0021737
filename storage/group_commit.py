"""Group commit: writes that arrive while one transaction is being written go together in the next.

A rush of customers makes the same small write at the same moment (the turn's dialog and event, the
customer's last-seen time). One transaction each queues them all on the single writer (SQLite's write
lock, a pooled PostgreSQL connection each): BEGIN, a statement or two, COMMIT, thirty times over. Here the
first write starts a transaction at once; those that arrive meanwhile wait and are written together in the
next one, with one statement for all their rows where the SQL allows it. Each caller still returns only
when its own write is committed, so nothing moves past the reply and nothing is lost on a crash
(docs/BENCHMARKS.md "A rush").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(self, name: str, write: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        """`write` writes a batch in one transaction and returns one result per item, in order."""
        self._name = name
        self._write = write
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Write `item` with whatever else is waiting; returns once it is committed (raises if it failed)."""
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._writer is None or self._writer.done():
            # Its own task: a caller cancelled while waiting never leaves the others' writes unwritten.
            self._writer = asyncio.create_task(self._write_queued(), name=self._name)
        return await asyncio.shield(done)

    async def _write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._write([item for item, _ in batch])
            except Exception:  # one bad item must not fail its neighbours: each on its own
                for item, done in batch:
                    try:
                        [result] = await self._write([item])
                    except Exception as exc:
                        if not done.done():
                            done.set_exception(exc)
                    else:
                        if not done.done():
                            done.set_result(result)
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(result)
