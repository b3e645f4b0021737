"""Warmers: the functions that fill the cache with what the bot needs first.

Each feature registers its own (the semantic cache its index and FAQ seeds, the
cache itself the recently active users' profiles) under one or more groups; an admin, the CLI, startup and Redis
recovery run a group. A failing warmer is reported, never fatal to the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

CRITICAL = "critical"  # everything a cold process needs: profiles, the semantic index, FAQ seeds
MENU = "menu"  # after an edit to menu.yaml: the semantic index for the new menu and its FAQ answers
GROUPS = frozenset({CRITICAL, MENU})

WarmerFn = Callable[[], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Warmer:
    name: str
    groups: frozenset[str]
    fn: WarmerFn  # returns how many keys it wrote


class WarmerRegistry:
    def __init__(self) -> None:
        self._warmers: dict[str, Warmer] = {}

    def register(self, name: str, groups: set[str] | frozenset[str], fn: WarmerFn) -> None:
        unknown = set(groups) - GROUPS
        if not groups or unknown:
            raise ValueError(f"warmer {name!r}: groups must be a non-empty subset of {sorted(GROUPS)}")
        if name in self._warmers:
            raise ValueError(f"warmer {name!r} is already registered")
        self._warmers[name] = Warmer(name, frozenset(groups), fn)

    def names(self, group: str) -> list[str]:
        return [w.name for w in self._warmers.values() if group in w.groups]

    async def run(self, group: str) -> dict[str, Any]:
        """Run every warmer of `group` in registration order; report keys and time per warmer."""
        if group not in GROUPS:
            raise ValueError(f"unknown warmup group {group!r}; known: {sorted(GROUPS)}")
        started = time.perf_counter()
        report: dict[str, dict[str, Any]] = {}
        for warmer in (w for w in self._warmers.values() if group in w.groups):
            t0 = time.perf_counter()
            try:
                keys = int(await warmer.fn())
                report[warmer.name] = {"keys": keys, "took_ms": _ms_since(t0)}
            except Exception as exc:
                log.exception("cache warmer %s failed", warmer.name)
                report[warmer.name] = {"keys": 0, "took_ms": _ms_since(t0), "error": f"{type(exc).__name__}: {exc}"}
        return {
            "group": group,
            "keys": sum(r["keys"] for r in report.values()),
            "took_ms": _ms_since(started),
            "errors": sum(1 for r in report.values() if "error" in r),
            "warmers": report,
            "finished_at": time.time(),
        }


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
