"""Dialogs: each user's conversation with the agent, the history the model sees.

A dialog continues while its last message is younger than the idle limit and nobody
sent /reset; otherwise the next message starts a new one. Old dialogs stay in the table
(for the retention job to purge), they are just never sent to the model again.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.agent_events import AgentEvent, insert_events
from storage.db import Database, now
from storage.dialect import Transaction
from storage.group_commit import GroupCommit


@dataclass(frozen=True, slots=True)
class DialogMessage:
    role: str  # user | assistant
    content: str
    created_at: float


class DialogRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._group = GroupCommit("dialog-group-commit", self._write)

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
        meanwhile. `event` is the turn's `agent_events` row, written in the same transaction.

        Group commit (storage/group_commit.py): the turns that arrive while a transaction is being written go
        together in the next one, their messages and events each in one statement. The caller still returns
        only once its turn is committed.
        """
        return await self._group.submit(_PendingTurn(user_id, idle_seconds, question, answer, known, event, now()))

    async def _write(self, batch: list[_PendingTurn]) -> list[int]:
        ids: list[int] = []
        async with self._db.transaction() as tx:
            for turn in batch:
                ids.append(await _dialog_for(tx, turn))
            await tx.executemany(
                "INSERT INTO dialog_messages(dialog_id, user_id, role, content, created_at) VALUES (?, ?, ?, ?, ?)",
                [row for turn, dialog_id in zip(batch, ids, strict=True)
                 for row in ((dialog_id, turn.user_id, "user", turn.question, turn.ts),
                             (dialog_id, turn.user_id, "assistant", turn.answer, turn.ts))],
            )
            await insert_events(tx, [turn.event for turn in batch if turn.event is not None])
        return ids

    async def reset(self, user_id: int) -> bool:
        """End the user's open dialogs; True if there was one."""
        changed = await self._db.execute_rowcount(
            "UPDATE dialogs SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL", (now(), user_id)
        )
        return changed > 0


@dataclass(frozen=True, slots=True)
class _PendingTurn:
    user_id: int
    idle_seconds: float
    question: str
    answer: str
    known: tuple[int | None] | None
    event: AgentEvent | None
    ts: float


async def _dialog_for(tx: Transaction, turn: _PendingTurn) -> int:
    """The turn's dialog inside the batch's transaction: the known one if no /reset ended it, else the active
    one, else a new one."""
    dialog_id: int | None = None
    if turn.known is None:
        found = await tx.fetchval(
            """SELECT id FROM dialogs WHERE user_id = ? AND ended_at IS NULL AND last_message_at >= ?
               ORDER BY id DESC LIMIT 1""",
            (turn.user_id, turn.ts - turn.idle_seconds),
        )
        if found is not None:
            dialog_id = int(found)
            await tx.execute("UPDATE dialogs SET last_message_at = ? WHERE id = ?", (turn.ts, dialog_id))
    elif turn.known[0] is not None and await tx.execute(
            "UPDATE dialogs SET last_message_at = ? WHERE id = ? AND ended_at IS NULL", (turn.ts, turn.known[0])):
        dialog_id = turn.known[0]
    if dialog_id is None:
        dialog_id = int(await tx.insert(
            "INSERT INTO dialogs(user_id, started_at, last_message_at) VALUES (?, ?, ?) RETURNING id",
            (turn.user_id, turn.ts, turn.ts),
        ) or 0)
    return dialog_id
