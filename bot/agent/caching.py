"""Answer caching: the hook other caches plug into, and the exact-match cache.

The agent asks its registered `AnswerCache`s (exact first, then semantic) before calling
the model, and stores a model answer in them afterwards. Whether it may do either is not
decided here: `CacheContext` carries the turn's `Shareability` (what the question is)
and `Provenance` (how the answer was made), and every cache asks the one policy in
`bot.semantic.sharing` through them. The context also says which prompt, menu and model produced
an answer, so a new version never serves an old one, and in which language the customer reads
(`language`): part of the exact cache's key, so a German customer is never served an answer cached
for an English one (and the semantic cache, English-only, serves English readers only).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.cache import keys
from bot.semantic.sharing import Blocker, CacheKind, Provenance, Shareability
from bot.semantic.text import normalise_question


@dataclass(frozen=True, slots=True)
class CacheContext:
    user_id: int
    prompt_version: str
    menu_version: str
    model: str
    share: Shareability
    kind: str = "text"
    provenance: Provenance = field(default_factory=Provenance)  # how the answer to store was made
    language: str = "en"  # the customer's language (bot.i18n): the answer was written for it

    def serve_blocker(self, cache: CacheKind) -> Blocker | None:
        return self.share.serve_blocker(cache)

    def store_blocker(self, cache: CacheKind) -> Blocker | None:
        return self.share.store_blocker(self.provenance, cache)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    answer: str
    source: str  # "cache" (exact) or "semantic"
    model: str = ""
    prompt_version: str = ""
    score: float | None = None  # similarity, for semantic hits


@runtime_checkable
class AnswerCache(Protocol):
    name: str

    async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None: ...

    async def store(self, question: str, answer: str, ctx: CacheContext) -> None: ...


class KeyValueStore(Protocol):
    """The part of the cache service the exact cache needs."""

    async def get(self, key: str) -> Any: ...

    async def set(self, key: str, value: Any, ttl: float | None = None) -> Any: ...


class MemoryStore:
    """A tiny LRU with expiry: the exact cache's store when no cache service is wired."""

    def __init__(self, max_entries: int = 2000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    async def get(self, key: str) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires and expires < time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._data[key] = (time.monotonic() + ttl if ttl else 0.0, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)


class ExactAnswerCache:
    """Same normalised question + prompt version + menu version + model + customer's language → same answer."""

    name = "exact"
    source = "cache"

    def __init__(self, kv: KeyValueStore, ttl_seconds: float) -> None:
        self.kv = kv
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def key(question: str, ctx: CacheContext) -> str:
        material = "\x1f".join((normalise_question(question), ctx.prompt_version, ctx.menu_version, ctx.model,
                                 ctx.language))
        return f"{keys.ANSWER}{hashlib.sha256(material.encode()).hexdigest()[:32]}"

    async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None:
        if ctx.serve_blocker(CacheKind.EXACT) is not None:
            return None
        value = await self.kv.get(self.key(question, ctx))
        if not isinstance(value, dict) or not isinstance(value.get("answer"), str):
            return None
        return CachedAnswer(answer=value["answer"], source=self.source, model=value.get("model", ""),
                            prompt_version=value.get("prompt_version", ""))

    async def store(self, question: str, answer: str, ctx: CacheContext) -> None:
        if ctx.store_blocker(CacheKind.EXACT) is not None or not answer.strip():
            return
        value = {"answer": answer, "model": ctx.model, "prompt_version": ctx.prompt_version,
                 "menu_version": ctx.menu_version, "language": ctx.language, "question": question.strip()[:200],
                 "stored_at": time.time()}
        await self.kv.set(self.key(question, ctx), value, self.ttl_seconds)
