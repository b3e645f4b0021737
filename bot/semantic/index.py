"""Exact nearest-neighbour search over unit vectors in one NumPy matrix.

Cosine similarity of unit vectors is a dot product, so a lookup is one
matrix-vector product over all rows: about 1 ms for 10,000 entries of 384
dimensions on one core, exact (no recall loss), and trivially consistent with
deletes. Rows live in a preallocated matrix that doubles when full; a delete
moves the last row into the hole, so the matrix stays dense.

Where this stops being enough (see docs/BENCHMARKS.md): the product is linear in the number
of entries — ~10 ms at 100k entries, beyond the lookup budget past a few hundred
thousand — and the matrix is copied per process. Past that, an ANN index (HNSW via
hnswlib/FAISS) or Redis' own vector search is the next step.
"""

from __future__ import annotations

import numpy as np


class VectorIndex:
    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._vectors = np.zeros((capacity, dim), dtype=np.float32)
        self._expires = np.zeros(capacity, dtype=np.float64)
        self._last_used = np.zeros(capacity, dtype=np.float64)
        self._pinned = np.zeros(capacity, dtype=bool)
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> list[str]:
        return list(self._keys)

    def add(self, key: str, vector: np.ndarray, expires_at: float, last_used: float, pinned: bool = False) -> None:
        row = self._rows.get(key)
        if row is None:
            row = len(self._keys)
            if row == len(self._vectors):
                self._grow()
            self._keys.append(key)
            self._rows[key] = row
        self._vectors[row] = vector
        self._expires[row] = expires_at
        self._last_used[row] = last_used
        self._pinned[row] = pinned

    def remove(self, key: str) -> bool:
        row = self._rows.pop(key, None)
        if row is None:
            return False
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._keys[row] = moved
            self._rows[moved] = row
            for array in (self._vectors, self._expires, self._last_used, self._pinned):
                array[row] = array[last]
        self._keys.pop()
        return True

    def clear(self) -> None:
        self._keys.clear()
        self._rows.clear()

    def touch(self, key: str, when: float) -> None:
        row = self._rows.get(key)
        if row is not None:
            self._last_used[row] = when

    def search(self, query: np.ndarray, threshold: float, now: float, limit: int = 256) -> list[tuple[str, float]]:
        """Unexpired entries with similarity ≥ threshold, best first (at most `limit`)."""
        n = len(self._keys)
        if n == 0:
            return []
        scores = self._vectors[:n] @ query
        scores[self._expires[:n] <= now] = -2.0
        rows = np.flatnonzero(scores >= threshold)
        if rows.size > limit:
            rows = rows[np.argpartition(scores[rows], -limit)[-limit:]]
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return [(self._keys[r], float(scores[r])) for r in rows]

    def expired(self, now: float) -> list[str]:
        n = len(self._keys)
        return [self._keys[r] for r in np.flatnonzero(self._expires[:n] <= now)]

    def eviction_order(self, count: int) -> list[str]:
        """The `count` least recently used entries, FAQ seeds (pinned) last."""
        n = len(self._keys)
        if count <= 0 or n == 0:
            return []
        # Pinned rows sort after every unpinned one: add a large constant to their time.
        order = np.argsort(self._last_used[:n] + self._pinned[:n] * 1e12, kind="stable")[:count]
        return [self._keys[r] for r in order]

    def _grow(self) -> None:
        capacity = max(1024, len(self._vectors) * 2)
        for name in ("_vectors", "_expires", "_last_used", "_pinned"):
            old = getattr(self, name)
            shape = (capacity, self.dim) if old.ndim == 2 else (capacity,)
            new = np.zeros(shape, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
