"""Operations endpoints: `GET /metrics` (Prometheus text) and `GET /api/slo` (the runbook's targets).

Both are read-only and carry no secrets or personal data; with READ_TOKEN set they ask
for it like every other read endpoint (Prometheus sends it with `authorization:
credentials` in its scrape config), otherwise they are open.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from bot.ops.measure import live_report
from bot.web.keys import SERVICES

METRICS_PATH = "/metrics"
SLO_PATH = "/api/slo"


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format 0.0.4, or OpenMetrics when the scraper asks for it in Accept."""
    metrics = request.app[SERVICES].metrics
    await metrics.refresh()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type})


async def slo(request: web.Request) -> web.Response:
    """The fleet's targets (every replica publishing to Redis) and one row per replica; this replica's alone,
    saying so, without Redis."""
    return web.json_response(await live_report(request.app[SERVICES]))


def setup(app: web.Application) -> None:
    app.router.add_get(METRICS_PATH, metrics)
    app.router.add_get(SLO_PATH, slo)
