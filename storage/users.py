"""Users seen by the bot: who they are and when they were last active."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, now
from storage.group_commit import GroupCommit


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str | None
    first_name: str | None
    language_code: str | None
    created_at: float
    last_seen_at: float
    language: str | None = None  # chosen with /language; None = Telegram's language_code decides


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._seen = GroupCommit("users-group-commit", self._write_seen)

    async def touch(
        self, user_id: int, username: str | None, first_name: str | None, language_code: str | None
    ) -> None:
        """Record that the user was active now (insert on first sight); written with the others of the moment
        in one transaction (storage/group_commit.py)."""
        ts = now()
        await self._seen.submit((user_id, username, first_name, language_code, ts, ts))

    async def _write_seen(self, rows: list[tuple[int, str | None, str | None, str | None, float, float]]) -> list[None]:
        async with self._db.transaction() as tx:
            await tx.executemany(
                """
                INSERT INTO users(id, username, first_name, language_code, created_at, last_seen_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                    username=excluded.username, first_name=excluded.first_name,
                    language_code=excluded.language_code, last_seen_at=excluded.last_seen_at
                """,
                rows,
            )
        return [None] * len(rows)

    async def set_language(self, user_id: int, language: str | None) -> None:
        """The customer's own choice (/language), kept across restarts; None goes back to Telegram's."""
        await self._db.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))

    async def get(self, user_id: int) -> User | None:
        row = await self._db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return User(**dict(row)) if row else None

    async def recently_active(self, since_seconds: float, limit: int = 500) -> list[User]:
        rows = await self._db.fetchall(
            "SELECT * FROM users WHERE last_seen_at >= ? ORDER BY last_seen_at DESC LIMIT ?",
            (now() - since_seconds, limit),
        )
        return [User(**dict(r)) for r in rows]

    async def count(self) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM users"))
