"""Bearer tokens of the side server.

- POST endpoints (`admin_required`): ADMIN_API_TOKEN. With no ADMIN_API_TOKEN configured
  they are disabled (403), never open.
- Read-only endpoints (`read_access`, a middleware on every GET): READ_TOKEN or the admin
  token. With no READ_TOKEN configured they stay open, as they were before the setting
  existed. Stats, the outbox backlog and the model/prompt versions are no secrets, but on
  a shared host they are nobody else's business either.
- Handlers marked `@open_to_all` (the liveness and readiness probes, which orchestrators
  call without credentials) never ask for a token. The Telegram webhook is a POST and
  checks its own secret header.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web
from pydantic import SecretStr

from bot.web.keys import SERVICES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

READ_METHODS = frozenset({"GET", "HEAD"})
_OPEN_MARK = "_open_to_all"


def json_error(status: int, message: str, headers: dict[str, str] | None = None, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def _matches(given: str | None, *tokens: SecretStr | None) -> bool:
    """Constant-time comparison against each configured token (no early exit on the first)."""
    if given is None:
        return False
    results = [hmac.compare_digest(given.encode(), t.get_secret_value().encode()) for t in tokens if t is not None]
    return any(results)


def admin_required(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        token = request.app[SERVICES].settings.admin_api_token
        if token is None:
            return json_error(403, "admin API disabled: set ADMIN_API_TOKEN to enable it")
        if not _matches(_bearer(request), token):
            return json_error(401, "missing or wrong bearer token")
        return await handler(request)

    return wrapper


def open_to_all(handler: Handler) -> Handler:
    """Mark a GET endpoint that never asks for READ_TOKEN (probes called without credentials)."""
    setattr(handler, _OPEN_MARK, True)
    return handler


@web.middleware
async def read_access(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every GET asks for READ_TOKEN (or the admin token) when READ_TOKEN is set.

    A middleware rather than a decorator per endpoint, so that an endpoint added later is
    covered without anyone remembering to; the exceptions are marked at their definition.
    """
    if request.method not in READ_METHODS or getattr(request.match_info.handler, _OPEN_MARK, False):
        return await handler(request)
    settings = request.app[SERVICES].settings
    if settings.read_token is not None and not _matches(
        _bearer(request), settings.read_token, settings.admin_api_token
    ):
        return json_error(401, "missing or wrong bearer token: send READ_TOKEN (or ADMIN_API_TOKEN)",
                          headers={"WWW-Authenticate": "Bearer"})
    return await handler(request)


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The request body as a JSON object, or a 400 with a JSON error."""
    try:
        body = await request.json()
    except Exception:
        raise web.HTTPBadRequest(
            text='{"error": "body must be a JSON object"}', content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}', content_type="application/json")
    return body
