"""The runbook's cache endpoints: `GET /api/cache` (availability and stats) and
`POST /api/cache` (warmup, warmup-menu, clear-prefix, and find / forget of cached answers;
admin token required)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.cache import CRITICAL, MENU, CachedAnswers
from bot.cache.answers import Forgotten, query_words
from bot.cache.keys import clear_prefix_refusal
from bot.services import Services
from bot.web.auth import admin_required, json_error, read_json_object
from bot.web.keys import SERVICES

MAX_PREFIX_CHARS = 200
MAX_QUERY_CHARS = 200
FIND_LIMIT = 20  # entries listed by default; "limit" asks for up to MAX_FIND_LIMIT
MAX_FIND_LIMIT = 200

Action = Callable[[Services, dict[str, object]], Awaitable[dict[str, Any] | web.Response]]


async def _warmup(services: Services, body: dict[str, object]) -> dict[str, Any]:
    return await services.cache.warmup(CRITICAL)


async def _warmup_menu(services: Services, body: dict[str, object]) -> dict[str, Any]:
    return await services.cache.warmup(MENU)


async def _clear_prefix(services: Services, body: dict[str, object]) -> dict[str, Any] | web.Response:
    cache = services.cache
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


def _query(body: dict[str, object], action: str) -> str | web.Response:
    query = body.get("query")
    if not isinstance(query, str) or not query_words(query):
        return json_error(400, f"{action} needs \"query\": words of the question or answer, e.g. \"lentil\"")
    if len(query) > MAX_QUERY_CHARS:
        return json_error(400, f"query is longer than {MAX_QUERY_CHARS} characters")
    return query


def _answers(services: Services) -> CachedAnswers:
    return services.cached_answers


async def _find(services: Services, body: dict[str, object]) -> dict[str, Any] | web.Response:
    query = _query(body, "find")
    if isinstance(query, web.Response):
        return query
    limit = body.get("limit", FIND_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_FIND_LIMIT:
        return json_error(400, f"limit must be an integer from 1 to {MAX_FIND_LIMIT}")
    found = await _answers(services).find(query)
    shown = found.answers[:limit]
    return {"query": query, "total": len(found.answers), "shown": len(shown), "more": len(found.answers) - len(shown),
            "truncated": found.truncated, "entries": [a.as_dict() for a in shown]}


async def _forget(services: Services, body: dict[str, object]) -> dict[str, Any] | web.Response:
    """`{"id": "e-..."}` forgets that entry (404 if none has it); `{"query": "..."}` every match."""
    if ("id" in body) == ("query" in body):
        return json_error(400, "forget needs either \"id\" (from find) or \"query\" (every match)")
    answers = _answers(services)
    if "id" in body:
        given = body["id"]
        try:
            if not isinstance(given, str):
                raise ValueError(given)
            forgotten = await answers.forget_id(given)
        except ValueError:
            return json_error(400, "id must be an id from find, e.g. \"e-3fa9c01b2e\" or \"s-91ab04c7d2\"")
        if forgotten.ambiguous:
            return json_error(409, "the id names several entries: give the whole id",
                              entries=[a.as_dict() for a in forgotten.ambiguous])
        if not forgotten.answers:
            return json_error(404, f"no cached answer has the id {given!r}")
        return _forgotten(forgotten)
    query = _query(body, "forget")
    if isinstance(query, web.Response):
        return query
    return {"query": query, **_forgotten(await answers.forget_matching(query))}


def _forgotten(forgotten: Forgotten) -> dict[str, Any]:
    return {"forgotten": [a.as_dict() for a in forgotten.answers], "exact": forgotten.count("exact"),
            "semantic": forgotten.count("semantic"), "everywhere": forgotten.everywhere,
            "truncated": forgotten.truncated}


ACTIONS: dict[str, Action] = {
    "warmup": _warmup, "warmup-menu": _warmup_menu, "clear-prefix": _clear_prefix, "find": _find, "forget": _forget,
}


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
    result = await action(request.app[SERVICES], body)
    if isinstance(result, web.Response):
        return result
    return web.json_response({"action": name, "ok": not result.get("errors"), **result})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/cache", cache_status)
    app.router.add_post("/api/cache", cache_action)
