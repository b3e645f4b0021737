"""The aiohttp side server: health probes, the runbook's /api endpoints and the webhook."""

from bot.web.server import create_web_app

__all__ = ["create_web_app"]
