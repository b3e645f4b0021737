"""Liveness and readiness probes."""

from __future__ import annotations

import time

from aiohttp import web

from bot.web.auth import open_to_all
from bot.web.keys import SERVICES, STATUS


@open_to_all
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process and its event loop answer. Always cheap, never touches I/O."""
    status = request.app[STATUS]
    return web.json_response({"status": "ok", "uptime_s": round(time.time() - status.started_at, 1)})


@open_to_all
async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and the bot has started (and is not stopping)."""
    status = request.app[STATUS]
    db_ok = await request.app[SERVICES].db.ping()
    checks = {
        "database": "ok" if db_ok else "error",
        "bot": "ok" if status.ready and not status.stopping else ("stopping" if status.stopping else "starting"),
        "telegram": status.telegram,
    }
    ready = db_ok and status.ready and not status.stopping
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
