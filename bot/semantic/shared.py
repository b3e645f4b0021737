"""Sharing semantic cache entries between bot processes through a Redis stream.

Each generation (prompt, menu, embedding model, chat model) has its own stream,
`<REDIS_KEY_PREFIX>semantic:<generation id>:stream` (so `clear-prefix semantic:` removes it
with the cache's keys), trimmed to about MAX_ENTRIES. A process appends
what it stores and tails the stream (polling, so a short socket timeout is enough),
adding what others stored to its own index and SQLite copy. A new process reads the
stream from the start, so it serves what the others learned before it started.

Redis is never on the lookup path: while it is down lookups go on from the local
copy, new entries wait in a bounded queue and are published when it is back.

Forgetting (an admin removing a bad answer) posts a `forget` event on the stream, which
the other processes apply within their poll interval, and records each key with its time
in the sorted set `semantic:forgotten` (kept for the entries' lifetime). A process reads
that set when it starts (before it answers anyone) and whenever Redis comes back, so one
that was down or cut off meanwhile drops the entry from its SQLite copy too, and the
stream read from the start never brings it back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from bot.cache.keys import SEMANTIC as PREFIX
from bot.semantic.cache import SemanticCache
from storage.semantic import Generation, StoredEntry

log = logging.getLogger(__name__)

PENDING_MAX = 1000
READ_BATCH = 500
CLEAR = "clear"
FORGET = "forget"
FORGOTTEN = f"{PREFIX}forgotten"  # sorted set: entry key → the time it was forgotten
START_TIMEOUT_SECONDS = 2.0  # how long start() waits to learn what was forgotten while it was away


def stream_key(generation: Generation, key_prefix: str = "") -> str:
    """The generation's stream, under the application prefix like every key of the bot."""
    digest = hashlib.sha256(generation.label().encode()).hexdigest()[:12]
    return f"{key_prefix}{PREFIX}{digest}:stream"


def encode_entry(entry: StoredEntry) -> str:
    g = entry.generation
    return json.dumps({
        "key": entry.key, "question": entry.question, "answer": entry.answer,
        "vector": base64.b64encode(entry.vector.astype("<f4").tobytes()).decode(),
        "prompt_version": g.prompt_version, "menu_version": g.menu_version,
        "embedding_model": g.embedding_model, "llm_model": g.llm_model, "source": entry.source,
        "created_at": entry.created_at, "expires_at": entry.expires_at,
    }, ensure_ascii=False)


def decode_entry(raw: str | bytes) -> StoredEntry:
    data = json.loads(raw)
    return StoredEntry(
        key=data["key"], question=data["question"], answer=data["answer"],
        vector=np.frombuffer(base64.b64decode(data["vector"]), dtype="<f4").astype(np.float32),
        generation=Generation(data["prompt_version"], data["menu_version"], data["embedding_model"],
                              data["llm_model"]),
        source=data["source"], created_at=float(data["created_at"]), expires_at=float(data["expires_at"]),
        last_used_at=float(data["created_at"]),
    )


class RedisShare:
    """The `SharedEntries` of a SemanticCache, over any redis.asyncio client."""

    def __init__(self, cache: SemanticCache, client: Any, *, poll_seconds: float = 1.0,
                 max_backoff_seconds: float = 10.0, key_prefix: str = "") -> None:
        self._cache = cache
        self._client = client
        self._key_prefix = key_prefix
        self._forgotten_key = key_prefix + FORGOTTEN
        self._poll = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._pending: deque[StoredEntry] = deque(maxlen=PENDING_MAX)
        self._pending_forgets: dict[str, float] = {}
        self._tombstones_due = True  # read `semantic:forgotten` on the next sync (start, after an outage)
        self._task: asyncio.Task[None] | None = None
        self._state = "connecting"
        self._stream = ""
        self._last_id = "0"
        self.published = 0
        self.received = 0
        self.errors = 0
        cache.shared = self

    async def start(self) -> None:
        # Before the bot answers anyone: what was forgotten while this process was down must not
        # be served from its SQLite copy. Redis unreachable: the sync loop does it when it is back.
        try:
            async with asyncio.timeout(START_TIMEOUT_SECONDS):
                await self._read_tombstones()
        except Exception as exc:
            log.warning("semantic cache: could not read forgotten entries at start (%s); will retry",
                        type(exc).__name__)
        self._task = asyncio.create_task(self._run(), name="semantic-cache-share")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._client.aclose()

    def status(self) -> dict[str, Any]:
        return {"state": self._state, "stream": self._stream or None, "published": self.published,
                "received": self.received, "pending": len(self._pending),
                "pending_forgets": len(self._pending_forgets), "errors": self.errors}

    async def publish(self, entry: StoredEntry) -> None:
        if self._state != "ok":
            self._pending.append(entry)
            return
        try:
            await self._xadd(entry)
        except Exception as exc:
            self._pending.append(entry)
            self._down(exc)

    async def forget(self, tombstones: Mapping[str, float]) -> None:
        """Tell every process, now and later, that these entries are gone (see the module doc)."""
        for key, when in tombstones.items():
            self._pending_forgets[key] = max(when, self._pending_forgets.get(key, when))
        if self._state == "ok":
            try:
                await self._post_forgets()
            except Exception as exc:
                self._down(exc)

    async def _post_forgets(self) -> None:
        if not self._pending_forgets:
            return
        tombstones = dict(self._pending_forgets)
        stream = stream_key(self._cache.generation, self._key_prefix)
        keep_from = max(tombstones.values()) - self._cache.ttl_seconds
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zadd(self._forgotten_key, tombstones, gt=True)
            pipe.zremrangebyscore(self._forgotten_key, "-inf", f"({keep_from}")
            pipe.expire(self._forgotten_key, int(self._cache.ttl_seconds) + 3600)
            pipe.xadd(stream, {"op": FORGET, "keys": json.dumps(tombstones)}, maxlen=self._cache.max_entries,
                      approximate=True)
            pipe.expire(stream, int(self._cache.ttl_seconds) + 3600)
            await pipe.execute()
        for key, when in tombstones.items():
            if self._pending_forgets.get(key) == when:
                del self._pending_forgets[key]

    async def _read_tombstones(self) -> None:
        """Apply every recorded forget (the set is bounded by the entries' lifetime)."""
        rows = await self._client.zrange(self._forgotten_key, 0, -1, withscores=True)
        tombstones = {_text(key): float(when) for key, when in rows}
        if tombstones:
            removed = await self._cache.apply_forgotten(tombstones)
            log.info("semantic cache: %d forgotten entries known, %d removed here", len(tombstones), removed)
        self._tombstones_due = False

    async def clear(self) -> None:
        """Tell every process to forget this generation's entries (admin clear)."""
        if self._state == "ok":
            try:
                key = stream_key(self._cache.generation, self._key_prefix)
                marker = await self._client.xadd(key, {"op": CLEAR})
                await self._client.xtrim(key, minid=marker)
            except Exception as exc:
                self._down(exc)
        self._pending.clear()

    async def _xadd(self, entry: StoredEntry) -> None:
        key = stream_key(entry.generation, self._key_prefix)
        await self._client.xadd(key, {"entry": encode_entry(entry)}, maxlen=self._cache.max_entries,
                                approximate=True)
        await self._client.expire(key, int(self._cache.ttl_seconds) + 3600)
        self.published += 1

    async def _run(self) -> None:
        await self._cache.wait_ready(load=False)  # sharing alone is no reason to load the model
        backoff = self._poll
        while True:
            try:
                await self._sync_once()
                if self._state == "down":
                    log.warning("semantic cache: Redis reachable again; sharing entries (%d queued)",
                                len(self._pending))
                self._state = "ok"
                backoff = self._poll
                await self._flush_pending()
                await asyncio.sleep(self._poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._down(exc)
                await asyncio.sleep(backoff)
                backoff = min(self._max_backoff, backoff * 2)

    async def _sync_once(self) -> None:
        if self._tombstones_due:
            await self._read_tombstones()
        key = stream_key(self._cache.generation, self._key_prefix)
        if key != self._stream:
            self._stream, self._last_id = key, "0"
        while True:
            reply = await self._client.xread({key: self._last_id}, count=READ_BATCH)
            messages = reply[0][1] if reply else []
            if not messages:
                return
            entries: list[StoredEntry] = []
            for message_id, fields in messages:
                self._last_id = _text(message_id)
                values = {_text(k): v for k, v in fields.items()}
                op = _text(values.get("op", ""))
                if op == CLEAR:
                    entries.clear()
                    await self._cache.clear(local_only=True)
                    continue
                if op == FORGET:
                    self.received += await self._cache.receive(entries)  # in stream order
                    entries = []
                    try:
                        tombstones = {str(k): float(v) for k, v in json.loads(values["keys"]).items()}
                    except (KeyError, ValueError, TypeError, AttributeError) as exc:
                        log.warning("semantic cache: skipping a malformed forget %s: %s", self._last_id, exc)
                        continue
                    await self._cache.apply_forgotten(tombstones)
                    continue
                try:
                    entries.append(decode_entry(values["entry"]))
                except (KeyError, ValueError, TypeError) as exc:
                    log.warning("semantic cache: skipping a malformed shared entry %s: %s", self._last_id, exc)
            self.received += await self._cache.receive(entries)
            if len(messages) < READ_BATCH:
                return

    async def _flush_pending(self) -> None:
        await self._post_forgets()
        while self._pending:
            entry = self._pending[0]
            if entry.generation == self._cache.generation:
                await self._xadd(entry)
            self._pending.popleft()

    def _down(self, exc: BaseException) -> None:
        self.errors += 1
        self._tombstones_due = True  # forgets may be missed while cut off: re-read the set when back
        if self._state != "down":
            log.warning("semantic cache: Redis unavailable (%s); serving from the local copy", type(exc).__name__)
        self._state = "down"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
