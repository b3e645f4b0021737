"""The agent over HTTP: `POST /api/agent/chat` (admin token) and a status probe.

`GET /api/agent/chat` is the runbook's agent health check (`bot.ops.health.chat_status`):
ok / degraded with reasons, model, prompt and menu versions, the circuit breaker, latency
and error rate over 5 minutes, and the cache block. It shows no secrets.
"""

from __future__ import annotations

from aiohttp import web

from bot.ops.health import chat_status
from bot.web.auth import admin_required, json_error, read_json_object
from bot.web.keys import SERVICES

CHAT_PATH = "/api/agent/chat"


async def agent_status(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if services.agent.budget is not None:
        await services.agent.budget.refresh()  # today's spending is known after a restart too
    return web.json_response(chat_status(services))


@admin_required
async def agent_chat(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_json_object(request)
    user_id, text = body.get("user_id"), body.get("text")
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        return json_error(400, "user_id must be an integer")
    if not isinstance(text, str) or not text.strip():
        return json_error(400, "text must be a non-empty string")
    if len(text) > services.settings.max_input_chars:
        return json_error(400, f"text is longer than {services.settings.max_input_chars} characters",
                          max_chars=services.settings.max_input_chars)
    reply = await services.agent.answer(user_id, text, kind="api")
    return web.json_response({
        "answer": reply.answer, "source": reply.source, "latency_ms": reply.latency_ms,
        "model": reply.model, "prompt_version": reply.prompt_version, "error_class": reply.error_class,
    })


def setup(app: web.Application) -> None:
    app.router.add_get(CHAT_PATH, agent_status)
    app.router.add_post(CHAT_PATH, agent_chat)
