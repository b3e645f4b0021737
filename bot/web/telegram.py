"""Telegram endpoints of the side server: send a test notification, see the outbox.

`POST /api/telegram/notify` is the runbook's "re-send test via /api/telegram/notify":
the text goes to the staff group through the outbox (so it is retried like any
order notification), and the answer says what became of it within `wait` seconds.
"""

from __future__ import annotations

from aiohttp import web

from bot.text import TELEGRAM_MAX_CHARS, escape
from bot.web.auth import admin_required, json_error, read_json_object
from bot.web.keys import SERVICES

MAX_WAIT_SECONDS = 30.0
DEFAULT_WAIT_SECONDS = 5.0
FINAL = ("delivered", "failed", "skipped")


@admin_required
async def notify(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_json_object(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return json_error(400, "text: required, a non-empty string")
    if len(text) > TELEGRAM_MAX_CHARS:
        return json_error(400, f"text: at most {TELEGRAM_MAX_CHARS} characters (got {len(text)})")
    wait = body.get("wait", DEFAULT_WAIT_SECONDS)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_WAIT_SECONDS:
        return json_error(400, f"wait: seconds to wait for delivery, 0 to {MAX_WAIT_SECONDS:.0f}")
    unknown = sorted(set(body) - {"text", "wait"})
    if unknown:
        return json_error(400, f"unknown field(s): {', '.join(unknown)}")
    staff_chat = services.settings.staff_chat_id
    if staff_chat is None:
        return json_error(409, "STAFF_CHAT_ID is not set: there is no staff group to notify")
    outbox = services.outbox
    assert outbox is not None
    row_id = await outbox.send_message(staff_chat, escape(text))
    row = await outbox.wait_final(row_id, float(wait))
    assert row is not None
    answer = {"id": row.id, "status": row.status, "attempts": row.attempts, "message_id": row.message_id,
              "error": row.last_error}
    return web.json_response(answer, status=200 if row.status in FINAL else 202)


async def telegram_status(request: web.Request) -> web.Response:
    """Is Telegram on and reachable, the webhook as Telegram last reported it, the outbox (no secrets in here)."""
    services = request.app[SERVICES]
    stats = await services.outbox.stats()
    return web.json_response({
        "enabled": services.outbox.enabled,
        "staff_chat_configured": services.settings.staff_chat_id is not None,
        "link": services.telegram.snapshot(),
        "outbox": stats.as_dict(),
    })


def setup(app: web.Application) -> None:
    app.router.add_post("/api/telegram/notify", notify)
    app.router.add_get("/api/telegram", telegram_status)
