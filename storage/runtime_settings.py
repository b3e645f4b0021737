"""Runtime settings an admin changes without a restart (they outlive the process)."""

from __future__ import annotations

from storage.db import Database, now


class RuntimeSettingsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_all(self) -> dict[str, str]:
        rows = await self._db.fetchall("SELECT key, value FROM runtime_settings")
        return {r["key"]: r["value"] for r in rows}

    async def get(self, key: str) -> str | None:
        """One setting, read from the database each time (every process sharing it sees a change at once)."""
        value = await self._db.fetchval("SELECT value FROM runtime_settings WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set(self, key: str, value: str, updated_by: int | None = None) -> None:
        await self._db.execute(
            """
            INSERT INTO runtime_settings(key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
            ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at,
                updated_by=excluded.updated_by
            """,
            (key, value, now(), updated_by),
        )

    async def delete(self, key: str) -> None:
        """Forget an override: the configured default is in force again."""
        await self._db.execute("DELETE FROM runtime_settings WHERE key = ?", (key,))
