"""The semantic cache's entries in the database: the local copy every bot process searches from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from storage.db import Database


@dataclass(frozen=True, slots=True)
class Generation:
    """What produced an answer; an entry answers only under the same generation."""

    prompt_version: str
    menu_version: str
    embedding_model: str
    llm_model: str

    def label(self) -> str:
        return (f"prompt={self.prompt_version} menu={self.menu_version} "
                f"embed={self.embedding_model} llm={self.llm_model}")


@dataclass(slots=True)
class StoredEntry:
    key: str
    question: str
    answer: str
    vector: np.ndarray
    generation: Generation
    source: str
    created_at: float
    expires_at: float
    last_used_at: float
    hits: int = 0

    def to_row(self) -> tuple[object, ...]:
        g = self.generation
        return (
            self.key, self.question, self.answer, self.vector.astype("<f4").tobytes(), g.prompt_version,
            g.menu_version, g.embedding_model, g.llm_model, self.source, self.created_at, self.expires_at,
            self.last_used_at, self.hits,
        )


_COLUMNS = ("key, question, answer, vector, prompt_version, menu_version, embedding_model, llm_model, source, "
            "created_at, expires_at, last_used_at, hits")
_REPLACE = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ") if c != "key")
_GENERATION_MATCH = "prompt_version = ? AND menu_version = ? AND embedding_model = ? AND llm_model = ?"


def _params(g: Generation) -> tuple[str, str, str, str]:
    return (g.prompt_version, g.menu_version, g.embedding_model, g.llm_model)


class SemanticCacheRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, generation: Generation, now: float) -> list[StoredEntry]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM semantic_cache WHERE {_GENERATION_MATCH} AND expires_at > ?",
            (*_params(generation), now),
        )
        return [
            StoredEntry(
                key=r["key"], question=r["question"], answer=r["answer"],
                vector=np.frombuffer(r["vector"], dtype="<f4").astype(np.float32),
                generation=generation, source=r["source"], created_at=r["created_at"],
                expires_at=r["expires_at"], last_used_at=r["last_used_at"], hits=r["hits"],
            )
            for r in rows
        ]

    async def upsert(self, entries: Iterable[StoredEntry]) -> None:
        rows = [e.to_row() for e in entries]
        if rows:
            await self._db.executemany(
                f"INSERT INTO semantic_cache({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
                f"ON CONFLICT(key) DO UPDATE SET {_REPLACE}", rows
            )

    async def insert_new(self, entries: Iterable[StoredEntry]) -> None:
        """Entries shared by another process: keep ours if the key is already here."""
        rows = [e.to_row() for e in entries]
        if rows:
            await self._db.executemany(
                f"INSERT INTO semantic_cache({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(key) DO NOTHING", rows
            )

    async def delete(self, keys: Iterable[str]) -> None:
        rows = [(k,) for k in keys]
        if rows:
            await self._db.executemany("DELETE FROM semantic_cache WHERE key = ?", rows)

    async def delete_created_until(self, tombstones: Iterable[tuple[str, float]]) -> None:
        """Forgotten entries: each key's rows created at or before its time (a newer answer stays)."""
        rows = list(tombstones)
        if rows:
            await self._db.executemany("DELETE FROM semantic_cache WHERE key = ? AND created_at <= ?", rows)

    async def delete_other_generations(self, generation: Generation) -> int:
        """Drop what an older prompt, menu or model produced."""
        return await self._db.execute_rowcount(
            f"DELETE FROM semantic_cache WHERE NOT ({_GENERATION_MATCH})", _params(generation)
        )

    async def delete_expired(self, now: float) -> int:
        return await self._db.execute_rowcount("DELETE FROM semantic_cache WHERE expires_at <= ?", (now,))

    async def delete_all(self) -> int:
        return await self._db.execute_rowcount("DELETE FROM semantic_cache")

    async def record_use(self, uses: Iterable[tuple[str, float, int]]) -> None:
        """(key, last used at, hits to add) for entries served since the last flush."""
        rows = [(last, last, hits, key) for key, last, hits in uses]
        if rows:  # CASE, not MAX(a, b) (SQLite) or GREATEST(a, b) (PostgreSQL): one text for both
            await self._db.executemany(
                """UPDATE semantic_cache SET last_used_at = CASE WHEN last_used_at > ? THEN last_used_at ELSE ? END,
                   hits = hits + ? WHERE key = ?""", rows
            )
