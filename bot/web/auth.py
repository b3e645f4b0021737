"""Admin authentication for the side server's POST endpoints.

With no ADMIN_API_TOKEN configured the endpoints are disabled (403), never open.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web

from bot.web.keys import SERVICES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def admin_required(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        token = request.app[SERVICES].settings.admin_api_token
        if token is None:
            return json_error(403, "admin API disabled: set ADMIN_API_TOKEN to enable it")
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.get_secret_value().encode()
        ):
            return json_error(401, "missing or wrong bearer token", )
        return await handler(request)

    return wrapper


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
