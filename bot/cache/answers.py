"""Finding and forgetting cached answers: an admin removes a bad answer from every cache at once.

Both answer caches are searched by words of the stored question or answer: the exact
cache (the `answer:*` values, read from Redis while it serves, else from this process's
memory, at most SCAN_LIMIT keys per search) and the semantic cache (this process's copy,
which every process keeps in step through Redis). Each entry gets a short id that is the
same in every process and every search, `e-` (exact) or `s-` (semantic) and the first ten
hex digits of its key, so an id shown by one process can be forgotten through another.

Forgetting uses each cache's own delete, which reaches every tier of every process
(`Cache.forget`, `SemanticCache.forget`); nothing here keeps state of its own.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.cache import keys
from bot.cache.service import Cache

EXACT = "exact"
SEMANTIC = "semantic"
ID_HEX = 10  # 40 bits: two of 20,000 entries share an id with odds of about 1 in 5,000
MIN_ID_HEX = 6  # an id may be given shorter, but not so short that it names many entries
PREVIEW_CHARS = 100
SCAN_LIMIT = 10_000

_WORD = re.compile(r"\w+")
_ID = re.compile(rf"^(e|s)-([0-9a-f]{{{MIN_ID_HEX},32}})$")


class SemanticEntry(Protocol):
    key: str
    question: str
    answer: str
    created_at: float


class SemanticEntries(Protocol):
    """What this needs of the semantic cache (bot.semantic.SemanticCache)."""

    def local_entries(self) -> Sequence[SemanticEntry]: ...

    async def forget(self, keys: Collection[str]) -> int: ...

    def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class FoundAnswer:
    id: str
    cache: str  # "exact" or "semantic"
    question: str
    answer: str
    age_seconds: float
    key: str

    @property
    def preview(self) -> str:
        """The first ~100 characters of the answer, on one line."""
        text = " ".join(self.answer.split())
        return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS].rstrip() + "…"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cache": self.cache, "question": self.question, "answer": self.preview,
                "age_seconds": round(self.age_seconds)}


@dataclass(frozen=True, slots=True)
class Found:
    answers: list[FoundAnswer]  # every match, newest first
    truncated: bool = False  # the exact cache holds more answers than one search reads


@dataclass(frozen=True, slots=True)
class Forgotten:
    answers: list[FoundAnswer] = field(default_factory=list)
    everywhere: bool = True  # every process was told; False: Redis is down, they learn when it is back
    ambiguous: list[FoundAnswer] = field(default_factory=list)  # an id that names more than one entry
    truncated: bool = False

    def count(self, cache: str) -> int:
        return sum(1 for a in self.answers if a.cache == cache)


def query_words(text: str) -> list[str]:
    """The words of a search: case, width and punctuation do not matter."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def matches(words: list[str], *texts: str) -> bool:
    """Every word of the search begins a word of the texts ("lentil" finds "lentils", "tea" not "steak")."""
    tokens = set(query_words(" ".join(texts)))
    return all(any(token.startswith(word) for token in tokens) for word in words)


def answer_id(cache: str, key: str) -> str:
    digest = key.removeprefix(keys.ANSWER) if cache == EXACT else key
    return f"{cache[0]}-{digest[:ID_HEX]}"


class CachedAnswers:
    """Find answers in both caches by words; forget one by id, or every match."""

    def __init__(self, cache: Cache, semantic: SemanticEntries | None = None, *, ttl_seconds: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cache = cache
        self.semantic = semantic
        self.ttl_seconds = ttl_seconds or None  # the exact answers' TTL: how long a tombstone must last
        self._clock = clock

    async def find(self, query: str) -> Found:
        """Every cached answer whose question or answer has all the words; ValueError without words."""
        words = query_words(query)
        if not words:
            raise ValueError("a search needs at least one word")
        exact, truncated = await self._exact(keys.ANSWER)
        found = [a for a in exact + self._semantic("") if matches(words, a.question, a.answer)]
        found.sort(key=lambda a: (a.age_seconds, a.id))
        return Found(found, truncated)

    async def forget_id(self, given: str) -> Forgotten:
        """Forget the one entry with this id (ValueError for something that is not an id)."""
        match = _ID.match(given.strip().lower())
        if match is None:
            raise ValueError(f"not an answer id: {given!r}")
        kind, digest = match.groups()
        if kind == "e":
            candidates, _ = await self._exact(keys.ANSWER + digest, limit=2)
        else:
            candidates = self._semantic(digest)
        if len(candidates) > 1:
            return Forgotten(ambiguous=candidates)
        return await self._forget(candidates)

    async def forget_matching(self, query: str) -> Forgotten:
        """Forget every entry `find` would list (ValueError without words)."""
        found = await self.find(query)
        forgotten = await self._forget(found.answers)
        return Forgotten(forgotten.answers, forgotten.everywhere, truncated=found.truncated)

    # --- internals ------------------------------------------------------------------------------
    async def _exact(self, prefix: str, limit: int = SCAN_LIMIT) -> tuple[list[FoundAnswer], bool]:
        scan = await self.cache.scan(prefix, limit)
        now = self._clock()
        found = []
        for item in scan.values:
            value = item.value
            if isinstance(value, dict) and isinstance(value.get("answer"), str):
                question = value.get("question")
                found.append(FoundAnswer(answer_id(EXACT, item.key), EXACT, str(question or ""), value["answer"],
                                         max(0.0, now - item.written_at), item.key))
        return found, scan.truncated

    def _semantic(self, key_prefix: str) -> list[FoundAnswer]:
        if self.semantic is None:
            return []
        now = self._clock()
        return [FoundAnswer(answer_id(SEMANTIC, e.key), SEMANTIC, e.question, e.answer,
                            max(0.0, now - e.created_at), e.key)
                for e in self.semantic.local_entries() if e.key.startswith(key_prefix)]

    async def _forget(self, answers: list[FoundAnswer]) -> Forgotten:
        exact = [a.key for a in answers if a.cache == EXACT]
        semantic = [a.key for a in answers if a.cache == SEMANTIC]
        everywhere = True
        if exact:
            everywhere = await self.cache.forget(exact, self.ttl_seconds)
        if semantic and self.semantic is not None:
            await self.semantic.forget(semantic)
            shared = self.semantic.status().get("shared", {})
            everywhere = everywhere and shared.get("state") in ("ok", "disabled") \
                and not shared.get("pending_forgets")
        return Forgotten(answers, everywhere)
