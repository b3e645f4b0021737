"""Typed application state for the side server (aiohttp `web.AppKey`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.services import Services


@dataclass
class RuntimeStatus:
    """What the probes report: set by the Application as it starts and stops (Telegram: services.telegram)."""

    started_at: float = 0.0
    ready: bool = False
    stopping: bool = False


SERVICES = web.AppKey("services", Services)
STATUS = web.AppKey("status", RuntimeStatus)
