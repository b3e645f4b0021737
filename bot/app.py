"""The application: the bot and the side server in one process, one event loop.

`Application.start()` opens storage, wires services, starts the side server and
then the Telegram side (polling or webhook). `stop()` undoes it in reverse and
lets in-flight handlers finish first, so nothing written is lost on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.commands import ADMIN_COMMANDS, CUSTOMER_COMMANDS, STAFF_COMMANDS, CommandInfo
from bot.config import ConfigError, Settings
from bot.middlewares import ProfileMiddleware, RateLimitMiddleware, UpdateContextMiddleware
from bot.services import Seams, Services, build_services
from bot.telegram import create_bot
from bot.web import create_web_app
from bot.web.keys import RuntimeStatus
from handlers import all_routers
from handlers.errors import on_error
from storage.db import Database

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"


def build_dispatcher(services: Services) -> Dispatcher:
    dp = Dispatcher(**services.handler_data())
    # Outer middlewares run in this order: bookkeeping, the rate limit, then anything that costs.
    dp.update.outer_middleware(UpdateContextMiddleware(services.metrics, services.inflight))
    dp.update.outer_middleware(RateLimitMiddleware(services.settings, services.metrics))
    dp.update.outer_middleware(ProfileMiddleware(services.profiles))
    dp.errors.register(on_error)
    dp.include_routers(*all_routers())
    return dp


class Application:
    def __init__(self, settings: Settings, seams: Seams | None = None) -> None:
        self.settings = settings
        self.seams = seams or Seams()
        self.status = RuntimeStatus()
        self.db = Database(settings.database_path)
        self.services: Services | None = None
        self.bot: Bot | None = None
        self.dp: Dispatcher | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._polling: asyncio.Task[None] | None = None
        self._started_components: list[object] = []
        self._stop_requested = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self.status.started_at = time.time()
        await self.db.open()
        await self.db.migrate()
        self.services = services = build_services(self.settings, self.db, self.seams)
        for component in services.components:
            await component.start()
            self._started_components.append(component)
        for component in services.components:
            after_start = getattr(component, "after_start", None)
            if after_start is not None:
                await after_start()

        self.dp = build_dispatcher(services)
        web_app = create_web_app(services, self.status)
        if self.settings.telegram_enabled:
            self.bot = services.bot = create_bot(self.settings, self.seams.telegram_session)
            if self.settings.bot_mode == "webhook":
                handler = SimpleRequestHandler(
                    dispatcher=self.dp,
                    bot=self.bot,
                    secret_token=self.settings.webhook_secret_value,
                )
                handler.register(web_app, path=WEBHOOK_PATH)
                web_app.middlewares.append(self._refuse_webhook_while_stopping)
        else:
            log.warning("Telegram disabled (BOT_MODE=off or no TELEGRAM_BOT_TOKEN): notifications are skipped")

        self._runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        self.port = self._bound_port(site)
        log.info("side server listening on %s:%s", self.settings.http_host, self.port)

        if self.bot is not None:
            await self._start_telegram()
        self.status.ready = True

    async def _start_telegram(self) -> None:
        assert self.bot is not None and self.dp is not None
        self.status.telegram = "starting"
        try:
            me = await self.bot.get_me()
            self.status.telegram = "ok"
            log.info("bot @%s (id %s) started in %s mode", me.username, me.id, self.settings.bot_mode)
        except TelegramUnauthorizedError:
            raise ConfigError("TELEGRAM_BOT_TOKEN: rejected by the Bot API (Unauthorized)") from None
        except Exception as exc:
            self.status.telegram = "unreachable"
            log.warning("Bot API unreachable at start (%s); will keep retrying", type(exc).__name__)
        await self._set_commands()
        if self.settings.bot_mode == "webhook":
            url = self.settings.webhook_base_url + WEBHOOK_PATH
            try:
                await self.bot.set_webhook(
                    url=url,
                    secret_token=self.settings.webhook_secret_value,
                    allowed_updates=self.dp.resolve_used_update_types(),
                    drop_pending_updates=False,
                )
                log.info("webhook set to %s", url)
            except Exception as exc:
                log.error("setWebhook failed: %s", exc)
        else:
            # A webhook left over from a previous deployment would make getUpdates fail.
            with contextlib.suppress(Exception):
                await self.bot.delete_webhook(drop_pending_updates=False)
            self._polling = asyncio.create_task(
                self.dp.start_polling(
                    self.bot,
                    handle_signals=False,
                    close_bot_session=False,
                    polling_timeout=25,
                    allowed_updates=self.dp.resolve_used_update_types(),
                ),
                name="telegram-polling",
            )

    async def _set_commands(self) -> None:
        assert self.bot is not None

        def as_bot_commands(items: list[CommandInfo]) -> list[BotCommand]:
            return [BotCommand(command=c.name, description=c.description) for c in items]

        try:
            await self.bot.set_my_commands(as_bot_commands(CUSTOMER_COMMANDS), scope=BotCommandScopeDefault())
            for admin_id in self.settings.admin_ids:
                await self.bot.set_my_commands(
                    as_bot_commands(CUSTOMER_COMMANDS + ADMIN_COMMANDS), scope=BotCommandScopeChat(chat_id=admin_id)
                )
            if self.settings.staff_chat_id is not None and STAFF_COMMANDS:
                await self.bot.set_my_commands(
                    as_bot_commands(STAFF_COMMANDS), scope=BotCommandScopeChat(chat_id=self.settings.staff_chat_id)
                )
        except Exception as exc:
            log.warning("setMyCommands failed: %s", exc)

    @web.middleware
    async def _refuse_webhook_while_stopping(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        """While stopping, Telegram is told to retry later instead of handing us new work."""
        if self.status.stopping and request.path == WEBHOOK_PATH:
            return web.json_response({"error": "shutting down"}, status=503)
        return await handler(request)

    async def stop(self) -> None:
        self.status.stopping = True
        self.status.ready = False
        if self._polling is not None and self.dp is not None:
            try:
                await asyncio.wait_for(self.dp.stop_polling(), 10)
            except (RuntimeError, TimeoutError):  # polling had not started yet, or hangs
                self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._polling
        if self.services is not None:
            finished = await self.services.inflight.wait_idle(self.settings.shutdown_timeout_seconds)
            if not finished:
                log.warning("shutdown: %d handlers still running after %.0fs",
                            self.services.inflight.count, self.settings.shutdown_timeout_seconds)
        if self._polling is not None:
            await self._confirm_polled_updates()
        for component in reversed(self._started_components):
            try:
                await component.stop()  # type: ignore[attr-defined]
            except Exception:
                log.exception("error stopping %s", type(component).__name__)
        self._started_components.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.bot is not None:
            await self.bot.session.close()
        await self.db.close()
        log.info("stopped")

    async def _confirm_polled_updates(self) -> None:
        """Tell the Bot API which updates we handled, so a restart does not replay them.

        getUpdates confirms earlier updates only on the next call; polling stopped
        before that call, so make it now (limit=1, timeout=0: anything newer stays queued).
        """
        assert self.services is not None and self.bot is not None
        last = self.services.inflight.last_update_id
        if last is None:
            return
        with contextlib.suppress(Exception):
            await self.bot.get_updates(offset=last + 1, limit=1, timeout=0)

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def run_until_stopped(self) -> None:
        """Start, serve until SIGTERM/SIGINT (or request_stop), then stop gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            log.info("ready")
            await self._stop_requested.wait()
            log.info("stop requested; finishing in-flight work")
        finally:
            await self.stop()

    @staticmethod
    def _bound_port(site: web.TCPSite) -> int | None:
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return sockets[0].getsockname()[1] if sockets else None
