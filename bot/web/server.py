"""Builds the side server's aiohttp application; each feature adds its routes in `setup`."""

from __future__ import annotations

from aiohttp import web

from bot.services import Services
from bot.web import agent, cache, health, ops, telegram, whisper
from bot.web.auth import read_access
from bot.web.keys import SERVICES, STATUS, RuntimeStatus


def create_web_app(services: Services, status: RuntimeStatus) -> web.Application:
    app = web.Application(client_max_size=25 * 1024 * 1024, middlewares=[read_access])
    app[SERVICES] = services
    app[STATUS] = status
    for feature in (health, whisper, cache, agent, ops, telegram):
        feature.setup(app)
    return app
