"""The in-process tier: an LRU dictionary with per-entry expiry.

Entries keep the JSON text (not the object), so a caller mutating what it got
back never changes the cache, and a value read from memory is the same as one
read from Redis. Each entry also keeps its version (the wall-clock millisecond
it was written) and its logical expiry, which the service needs to reconcile
with Redis after an outage; `local_deadline` bounds how long this process trusts
its own copy (other processes may have changed the value through Redis).
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.cache.keys import namespace_of


@dataclass(frozen=True, slots=True)
class Entry:
    data: str  # the value as JSON text
    version_ms: int  # wall-clock ms when the value was written (newer wins)
    expires_ms: int  # wall-clock ms when the value expires everywhere; 0 = never
    local_deadline: float  # monotonic seconds after which this copy is not used


class MemoryTier:
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now_ms: int) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._expired(entry, now_ms):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evictions += 1

    def delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    def delete_prefix(self, prefix: str) -> list[str]:
        """Remove every key that starts with the literal `prefix`; returns the removed keys."""
        doomed = [k for k in self._entries if k.startswith(prefix)]
        for key in doomed:
            del self._entries[key]
        return doomed

    def delete_if_older(self, key: str, version_ms: int) -> bool:
        """Drop the copy of `key` unless it was written after `version_ms` (another process's delete)."""
        entry = self._entries.get(key)
        if entry is None or entry.version_ms > version_ms:
            return False
        del self._entries[key]
        return True

    def delete_prefix_if_older(self, prefix: str, version_ms: int) -> int:
        doomed = [k for k, e in self._entries.items() if k.startswith(prefix) and e.version_ms <= version_ms]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def items(self, prefix: str, now_ms: int, limit: int) -> tuple[list[tuple[str, Entry]], bool]:
        """At most `limit` live entries under `prefix` (LRU order untouched), and whether there were more."""
        found: list[tuple[str, Entry]] = []
        for key, entry in self._entries.items():
            if key.startswith(prefix) and not self._expired(entry, now_ms):
                if len(found) == limit:
                    return found, True
                found.append((key, entry))
        return found, False

    def purge_expired(self, now_ms: int) -> int:
        doomed = [k for k, e in self._entries.items() if self._expired(e, now_ms)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def peek(self, key: str) -> Entry | None:
        """The entry as stored, expired or not, without touching the LRU order."""
        return self._entries.get(key)

    def namespace_counts(self) -> dict[str, int]:
        return dict(Counter(namespace_of(k) for k in self._entries))

    def clear(self) -> None:
        self._entries.clear()

    def _expired(self, entry: Entry, now_ms: int) -> bool:
        return (entry.expires_ms and entry.expires_ms <= now_ms) or entry.local_deadline <= self._clock()
