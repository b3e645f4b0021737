"""One row per agent turn: what answered, how fast, at what cost, and what went wrong."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, now
from storage.dialect import Transaction


@dataclass(frozen=True, slots=True)
class AgentEvent:
    user_id: int
    kind: str
    latency_ms: float
    source: str
    model: str
    prompt_version: str
    tokens_in: int = 0
    tokens_out: int = 0
    error_class: str | None = None
    tool_calls: int = 0
    created_at: float = 0.0
    id: int | None = None


async def insert_event(tx: Transaction, event: AgentEvent) -> int:
    """Write one `agent_events` row inside the caller's transaction (the dialog turn writes it with its own)."""
    return await tx.insert(
        """INSERT INTO agent_events(user_id, kind, latency_ms, source, model, prompt_version, tokens_in,
           tokens_out, error_class, tool_calls, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           RETURNING id""",
        (event.user_id, event.kind, round(event.latency_ms, 1), event.source, event.model, event.prompt_version,
         event.tokens_in, event.tokens_out, event.error_class, event.tool_calls, event.created_at or now()),
    ) or 0


async def insert_events(tx: Transaction, events: list[AgentEvent]) -> None:
    """Write several `agent_events` rows in one statement inside the caller's transaction (a group commit)."""
    if events:
        await tx.executemany(
            """INSERT INTO agent_events(user_id, kind, latency_ms, source, model, prompt_version, tokens_in,
               tokens_out, error_class, tool_calls, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(e.user_id, e.kind, round(e.latency_ms, 1), e.source, e.model, e.prompt_version, e.tokens_in,
              e.tokens_out, e.error_class, e.tool_calls, e.created_at or now()) for e in events],
        )


class AgentEventRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, event: AgentEvent) -> int:
        async with self._db.transaction() as tx:
            return await insert_event(tx, event)

    async def recent(self, limit: int = 50, user_id: int | None = None) -> list[AgentEvent]:
        if user_id is None:
            rows = await self._db.fetchall("SELECT * FROM agent_events ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM agent_events WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
            )
        return [AgentEvent(**dict(r)) for r in rows]

    async def tokens_since(self, since: float, user_id: int | None = None) -> int:
        """Model tokens (in + out) of the turns recorded since `since` (epoch seconds): one user's, or everyone's.

        Both forms walk an index (`agent_events_user`, `agent_events_created`) over that range only.
        """
        if user_id is None:
            spent = await self._db.fetchval(
                "SELECT SUM(tokens_in + tokens_out) FROM agent_events WHERE created_at >= ?", (since,))
        else:
            spent = await self._db.fetchval(
                "SELECT SUM(tokens_in + tokens_out) FROM agent_events WHERE user_id = ? AND created_at >= ?",
                (user_id, since))
        return int(spent or 0)
