"""Dialogs: each user's conversation with the agent, the history the model sees.

A dialog continues while its last message is younger than the idle limit and nobody
sent /reset; otherwise the next message starts a new one. Old dialogs stay in the table
(for the retention job to purge), they are just never sent to the model again.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.agent_events import AgentEvent, insert_event
from storage.db import Database, now


@dataclass(frozen=True, slots=True)
class DialogMessage:
    role: str  # user | assistant
    content: str
    created_at: float


class DialogRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def active_id(self, user_id: int, idle_seconds: float) -> int | None:
        return await self._db.fetchval(
            """SELECT id FROM dialogs WHERE user_id = ? AND ended_at IS NULL AND last_message_at >= ?
               ORDER BY id DESC LIMIT 1""",
            (user_id, now() - idle_seconds),
        )

    async def history(self, user_id: int, idle_seconds: float, limit: int, *,
                      dialog_id: int | None = None) -> list[DialogMessage]:
        """The last `limit` messages of the user's active dialog (`dialog_id` when the caller knows it), oldest
        first."""
        if limit <= 0:
            return []
        if dialog_id is None:
            dialog_id = await self.active_id(user_id, idle_seconds)
        if dialog_id is None:
            return []
        rows = await self._db.fetchall(
            "SELECT role, content, created_at FROM dialog_messages WHERE dialog_id = ? ORDER BY id DESC LIMIT ?",
            (dialog_id, limit),
        )
        return [DialogMessage(r["role"], r["content"], r["created_at"]) for r in reversed(rows)]

    async def append_turn(self, user_id: int, idle_seconds: float, question: str, answer: str, *,
                          known: tuple[int | None] | None = None, event: AgentEvent | None = None) -> int:
        """Record a question and its answer in the active dialog (a new one if none); returns its id.

        `known=(dialog_id,)` is what the caller's `active_id` found at the start of the turn (None: no active
        dialog): the turn then skips looking it up again, and only checks that the dialog was not ended (/reset)
        meanwhile. `event` is the turn's `agent_events` row, written in the same transaction. One turn of a
        customer is one transaction: the statements a rush pays for (docs/BENCHMARKS.md, "A rush").
        """
        ts = now()
        async with self._db.transaction() as tx:
            dialog_id: int | None = None
            if known is None:
                found = await tx.fetchval(
                    """SELECT id FROM dialogs WHERE user_id = ? AND ended_at IS NULL AND last_message_at >= ?
                       ORDER BY id DESC LIMIT 1""",
                    (user_id, ts - idle_seconds),
                )
                if found is not None:
                    dialog_id = int(found)
                    await tx.execute("UPDATE dialogs SET last_message_at = ? WHERE id = ?", (ts, dialog_id))
            elif known[0] is not None and await tx.execute(
                    "UPDATE dialogs SET last_message_at = ? WHERE id = ? AND ended_at IS NULL", (ts, known[0])):
                dialog_id = known[0]
            if dialog_id is None:
                dialog_id = int(await tx.insert(
                    "INSERT INTO dialogs(user_id, started_at, last_message_at) VALUES (?, ?, ?) RETURNING id",
                    (user_id, ts, ts),
                ) or 0)
            await tx.executemany(
                "INSERT INTO dialog_messages(dialog_id, user_id, role, content, created_at) VALUES (?, ?, ?, ?, ?)",
                [(dialog_id, user_id, "user", question, ts), (dialog_id, user_id, "assistant", answer, ts)],
            )
            if event is not None:
                await insert_event(tx, event)
        return dialog_id

    async def reset(self, user_id: int) -> bool:
        """End the user's open dialogs; True if there was one."""
        changed = await self._db.execute_rowcount(
            "UPDATE dialogs SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL", (now(), user_id)
        )
        return changed > 0
