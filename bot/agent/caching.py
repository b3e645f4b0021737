"""Answer caching: the hook other caches plug into, and the exact-match cache.

The agent asks its registered `AnswerCache`s (exact first, then semantic) before calling
the model, and again when the model fails (before answering offline); it stores an answer
in them only after a successful model answer to a standalone, non-personal question.
`CacheContext` carries what a cache needs to decide whether a question may be served from
or written to a shared cache: who asks, whether the question leans on the conversation so
far, whether the answer used tools or personal data, and which prompt, menu and model
produced it.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from bot.cache import keys


@dataclass(frozen=True, slots=True)
class CacheContext:
    user_id: int
    prompt_version: str
    menu_version: str
    model: str
    kind: str = "text"
    follow_up: bool = False  # the question depends on the conversation so far
    personal: bool = False  # the answer used tools or personal data
    time_sensitive: bool = False  # "now", "today", "tomorrow": true only at the moment it was said
    fallback: bool = False  # the model failed: a cache may serve what it would otherwise skip

    @property
    def shareable(self) -> bool:
        """May an answer be served from / written to a cache shared by all users?"""
        return not (self.follow_up or self.personal or self.time_sensitive)

    def for_fallback(self) -> CacheContext:
        return replace(self, fallback=True)


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


_PUNCT = re.compile(r"[^\w\s'-]+")
_SPACE = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    """Case, width, punctuation and spacing do not make a different question."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT.sub(" ", text.replace("’", "'"))
    return _SPACE.sub(" ", text).strip()


_FOLLOW_UP = re.compile(
    r"^(and|also|but|so|then|what about|how about|and what|ok|okay)\b"
    r"|\b(it|its|it's|that|those|these|this one|that one|them|they|the same|one more|another|"
    r"instead|else|more|cheaper|bigger|smaller)\b",
)
_TIME_SENSITIVE = re.compile(
    r"\b(now|today|tonight|tomorrow|yesterday|currently|right now|at the moment|still open|open yet|"
    r"this (morning|afternoon|evening|week|weekend))\b"
)


def is_follow_up(question: str, has_history: bool) -> bool:
    """Does the question lean on earlier messages ("and the large one?", "is it vegan?")?

    Without history nothing can be a follow-up. With history, pronouns and connectives
    that point back, or a very short question, mark it.
    """
    if not has_history:
        return False
    norm = normalise_question(question)
    return len(norm.split()) <= 2 or bool(_FOLLOW_UP.search(norm))


def is_time_sensitive(question: str) -> bool:
    return bool(_TIME_SENSITIVE.search(normalise_question(question)))


class ExactAnswerCache:
    """Same normalised question + prompt version + menu version + model → same answer."""

    name = "exact"
    source = "cache"

    def __init__(self, kv: KeyValueStore, ttl_seconds: float) -> None:
        self.kv = kv
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def key(question: str, ctx: CacheContext) -> str:
        material = "\x1f".join((normalise_question(question), ctx.prompt_version, ctx.menu_version, ctx.model))
        return f"{keys.ANSWER}{hashlib.sha256(material.encode()).hexdigest()[:32]}"

    async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None:
        if ctx.personal or ctx.time_sensitive or (ctx.follow_up and not ctx.fallback):
            return None
        value = await self.kv.get(self.key(question, ctx))
        if not isinstance(value, dict) or not isinstance(value.get("answer"), str):
            return None
        return CachedAnswer(answer=value["answer"], source=self.source, model=value.get("model", ""),
                            prompt_version=value.get("prompt_version", ""))

    async def store(self, question: str, answer: str, ctx: CacheContext) -> None:
        if not ctx.shareable or not answer.strip():
            return
        value = {"answer": answer, "model": ctx.model, "prompt_version": ctx.prompt_version,
                 "menu_version": ctx.menu_version, "question": normalise_question(question)[:200],
                 "stored_at": time.time()}
        await self.kv.set(self.key(question, ctx), value, self.ttl_seconds)
