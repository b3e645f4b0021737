"""The runbook's cache endpoints: `GET /api/cache` (availability and stats) and
`POST /api/cache` (warmup, warmup-menu, clear-prefix; admin token required)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.cache import CRITICAL, MENU, Cache
from bot.cache.keys import clear_prefix_refusal
from bot.web.auth import admin_required, json_error, read_json_object
from bot.web.keys import SERVICES

MAX_PREFIX_CHARS = 200

Action = Callable[[Cache, dict[str, object]], Awaitable[dict[str, Any] | web.Response]]


async def _warmup(cache: Cache, body: dict[str, object]) -> dict[str, Any]:
    return await cache.warmup(CRITICAL)


async def _warmup_menu(cache: Cache, body: dict[str, object]) -> dict[str, Any]:
    return await cache.warmup(MENU)


async def _clear_prefix(cache: Cache, body: dict[str, object]) -> dict[str, Any] | web.Response:
    prefix = body.get("prefix")
    if not isinstance(prefix, str) or not prefix.strip():
        return json_error(400, "clear-prefix needs a non-empty string \"prefix\", e.g. \"user:profile:\"")
    if len(prefix) > MAX_PREFIX_CHARS:
        return json_error(400, f"prefix is longer than {MAX_PREFIX_CHARS} characters")
    refusal = clear_prefix_refusal(prefix, cache.key_prefix)
    if refusal is not None:
        return json_error(400, refusal, key_prefix=cache.key_prefix)
    started = time.perf_counter()
    removed = await cache.clear_prefix(prefix)
    return {"prefix": prefix, "redis_prefix": cache.key_prefix + prefix, "removed": removed,
            "took_ms": round((time.perf_counter() - started) * 1000, 1), "backend": cache.backend}


ACTIONS: dict[str, Action] = {"warmup": _warmup, "warmup-menu": _warmup_menu, "clear-prefix": _clear_prefix}


async def cache_status(request: web.Request) -> web.Response:
    cache = request.app[SERVICES].cache
    await cache.refresh_key_count()
    return web.json_response({"available": cache.available, "backend": cache.backend, "stats": cache.stats()})


@admin_required
async def cache_action(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    name = body.get("action")
    action = ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        return json_error(400, "unknown or missing \"action\"", actions=sorted(ACTIONS))
    result = await action(request.app[SERVICES].cache, body)
    if isinstance(result, web.Response):
        return result
    return web.json_response({"action": name, "ok": not result.get("errors"), **result})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/cache", cache_status)
    app.router.add_post("/api/cache", cache_action)
