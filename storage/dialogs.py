"""Dialogs: each user's conversation with the agent, the history the model sees.

A dialog continues while its last message is younger than the idle limit and nobody
sent /reset; otherwise the next message starts a new one. Old dialogs stay in the table
(for the retention job to purge), they are just never sent to the model again.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    async def history(self, user_id: int, idle_seconds: float, limit: int) -> list[DialogMessage]:
        """The last `limit` messages of the user's active dialog, oldest first."""
        if limit <= 0:
            return []
        dialog_id = await self.active_id(user_id, idle_seconds)
        if dialog_id is None:
            return []
        rows = await self._db.fetchall(
            "SELECT role, content, created_at FROM dialog_messages WHERE dialog_id = ? ORDER BY id DESC LIMIT ?",
            (dialog_id, limit),
        )
        return [DialogMessage(r["role"], r["content"], r["created_at"]) for r in reversed(rows)]

    async def append_turn(self, user_id: int, idle_seconds: float, question: str, answer: str) -> int:
        """Record a question and its answer in the active dialog (a new one if none); returns its id."""
        ts = now()
        async with self._db.transaction() as tx:
            found = await tx.fetchval(
                """SELECT id FROM dialogs WHERE user_id = ? AND ended_at IS NULL AND last_message_at >= ?
                   ORDER BY id DESC LIMIT 1""",
                (user_id, ts - idle_seconds),
            )
            if found is None:
                dialog_id = int(await tx.insert(
                    "INSERT INTO dialogs(user_id, started_at, last_message_at) VALUES (?, ?, ?) RETURNING id",
                    (user_id, ts, ts),
                ) or 0)
            else:
                dialog_id = int(found)
                await tx.execute("UPDATE dialogs SET last_message_at = ? WHERE id = ?", (ts, dialog_id))
            await tx.executemany(
                "INSERT INTO dialog_messages(dialog_id, user_id, role, content, created_at) VALUES (?, ?, ?, ?, ?)",
                [(dialog_id, user_id, "user", question, ts), (dialog_id, user_id, "assistant", answer, ts)],
            )
        return dialog_id

    async def reset(self, user_id: int) -> bool:
        """End the user's open dialogs; True if there was one."""
        changed = await self._db.execute_rowcount(
            "UPDATE dialogs SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL", (now(), user_id)
        )
        return changed > 0
