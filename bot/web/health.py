"""Liveness and readiness probes."""

from __future__ import annotations

import time

from aiohttp import web

from bot.web.auth import open_to_all
from bot.web.keys import SERVICES, STATUS


@open_to_all
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process and its event loop answer. Always cheap, never touches I/O or Telegram."""
    status = request.app[STATUS]
    return web.json_response({"status": "ok", "uptime_s": round(time.time() - status.started_at, 1)})


@open_to_all
async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers, the bot has started (and is not stopping), and updates reach it.

    Telegram counts only once updates flow (first successful getUpdates, or the webhook
    confirmed), not while the token is rejected or the webhook is missing, and not once
    Telegram has been unreachable longer than TELEGRAM_UNREACHABLE_SECONDS. With Telegram
    bypassed (no token, BOT_MODE=off) the side server, agent and jobs are what runs: ready.
    Every "no" comes with its reason.
    """
    status = request.app[STATUS]
    services = request.app[SERVICES]
    db_ok = await services.db.ping()
    telegram = services.telegram
    reasons: list[str] = []
    if not db_ok:
        reasons.append("database not answering")
    if status.stopping:
        reasons.append("stopping")
    elif not status.ready:
        reasons.append("starting")
    reasons += telegram.readiness()
    checks = {
        "database": "ok" if db_ok else "error",
        "bot": "stopping" if status.stopping else ("ok" if status.ready else "starting"),
        "telegram": telegram.state,
    }
    ready = not reasons
    return web.json_response({"ready": ready, "checks": checks, "reasons": reasons}, status=200 if ready else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
