"""The application: the bot and the side server in one process, one event loop.

`Application.start()` opens storage, wires services, starts the side server and
then the Telegram supervisor (polling or webhook, retried for as long as the process
runs: bot/telegram/supervisor.py). `stop()` undoes it in reverse and lets in-flight
handlers finish first, so nothing written is lost on SIGTERM, within a fixed budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.commands import ADMIN_COMMANDS, CUSTOMER_COMMANDS, STAFF_COMMANDS, CommandInfo
from bot.config import Settings
from bot.i18n import _, use_locale
from bot.services import Component, Seams, Services, build_services
from bot.tasks import cancel_and_wait
from bot.telegram.filters import filters_on_the_loop
from bot.telegram.middlewares import (
    LocaleMiddleware,
    ProfileMiddleware,
    RateLimitMiddleware,
    UpdateContextMiddleware,
)
from bot.telegram.session import WEBHOOK_PATH, webhook_url
from bot.telegram.supervisor import TelegramSupervisor
from bot.web import create_web_app
from bot.web.keys import RuntimeStatus
from handlers import all_routers
from handlers.errors import on_error
from storage.db import Database

log = logging.getLogger(__name__)

# Shutdown budget (see Application.stop): after SHUTDOWN_TIMEOUT_SECONDS of draining, at most
# STOP_AFTER_DRAIN_SECONDS more; docker-compose's stop_grace_period must exceed the sum.
POLLING_STOP_SECONDS = 5.0
CONFIRM_SECONDS = 2.0
SIDE_SERVER_STOP_SECONDS = 2.0
SERVICES_STOP_SECONDS = 4.0
MIN_COMPONENT_STOP_SECONDS = 0.2
# The confirm's last half second, the side server, the services (each at least MIN_...), closing the session and db.
STOP_AFTER_DRAIN_SECONDS = 8.0
TELEGRAM_START_WAIT_SECONDS = 5.0
# The models start loading this long after the start, once the handlers then running finish (at most the second
# figure more): the updates that waited for a restart are answered first. A voice note starts its model at once.
AFTER_START_DELAY_SECONDS = 1.0
AFTER_START_IDLE_WAIT_SECONDS = 3.0


def freeze_start_up_objects() -> None:
    """Keep what the start built (modules, aiogram's and pydantic's classes, the lexicons) out of every later
    garbage collection.

    The collector's full passes walk every tracked object; after the start that is about a million objects that
    live as long as the process, so a full pass takes tens of milliseconds, holds the event loop, and lands in
    the middle of a rush: 30 customers' cached answers went from p95 ~80 to ~190 ms and 2.1 to 3.4 ms of CPU per
    turn (`python -m bench.rush`; with torch in the process its many objects made full passes rarer, which hid
    it). `gc.freeze()` moves them to a generation the collector never scans; objects made later are collected as
    before. One full collection first, so garbage of the start is not kept forever.
    """
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info("start-up objects frozen out of garbage collection: %d (%.0f ms)", gc.get_freeze_count(),
             (time.perf_counter() - started) * 1000)


def build_dispatcher(services: Services) -> Dispatcher:
    dp = Dispatcher(**services.handler_data())
    # Outer middlewares run in this order: bookkeeping, the rate limit, then anything that costs.
    dp.update.outer_middleware(UpdateContextMiddleware(services.metrics, services.inflight))
    dp.update.outer_middleware(RateLimitMiddleware(services.settings, services.rate_limits, services.metrics,
                                                   catalogues=services.catalogues))
    dp.update.outer_middleware(ProfileMiddleware(services.profiles))
    dp.update.outer_middleware(LocaleMiddleware(services.catalogues, services.settings))
    dp.errors.register(on_error)
    dp.include_routers(*all_routers())
    filters_on_the_loop(dp)  # not one thread-pool trip per `F...` filter (bot/telegram/filters.py)
    return dp


class Application:
    def __init__(self, settings: Settings, seams: Seams | None = None) -> None:
        self.settings = settings
        self.seams = seams or Seams()
        self.status = RuntimeStatus()
        self.db = Database(settings.database_target)
        self.services: Services | None = None
        self.bot: Bot | None = None
        self.dp: Dispatcher | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._supervisor: TelegramSupervisor | None = None
        self._started_components: list[Component] = []
        self._stop_requested = asyncio.Event()
        # The process is this application's alone (`main.py run`): process-wide tuning is ours to do. Tests run
        # many applications in one process and leave it off.
        self.owns_process = False
        self._after_start: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self.status.started_at = time.time()
        await self.db.open()
        await self.db.migrate()
        self.services = services = build_services(self.settings, self.db, self.seams)
        for component in services.components:
            await component.start()
            self._started_components.append(component)

        self.dp = build_dispatcher(services)
        web_app = create_web_app(services, self.status)
        web_app.middlewares.append(self._refuse_while_stopping)
        health = services.telegram
        self.bot = services.bot
        if self.bot is not None:
            if self.settings.bot_mode == "webhook":
                # Answered once handled (aiogram answers anyway after 55 s and lets the handler go on), not at
                # once: a replica killed mid-update leaves it unanswered, and Telegram delivers it again, to
                # another replica behind the load balancer. Answering first would lose it with the process.
                handler = SimpleRequestHandler(
                    dispatcher=self.dp,
                    bot=self.bot,
                    handle_in_background=False,
                    secret_token=self.settings.webhook_secret_value,
                )
                handler.register(web_app, path=WEBHOOK_PATH)
        else:
            log.warning("Telegram bypassed (%s): the side server, the agent and the jobs run, nothing is received "
                        "from Telegram and staff notifications are recorded as skipped (the runbook's test-only "
                        "mitigation)", self.settings.telegram_bypass_reason)

        self._runner = web.AppRunner(web_app, handle_signals=False, access_log=None,
                                     shutdown_timeout=SIDE_SERVER_STOP_SECONDS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        self.port = self._bound_port(site)
        log.info("side server listening on %s:%s", self.settings.http_host, self.port)

        if self.bot is not None:
            self._supervisor = TelegramSupervisor(
                self.bot, self.dp, self.settings, health, webhook_url=webhook_url(self.settings),
                after_connect=self._set_commands, leases=services.leases,
            )
            # A healthy start is fully up when start() returns; a sick Telegram never holds it longer than this.
            await self._supervisor.start(wait_seconds=TELEGRAM_START_WAIT_SECONDS)
        # The speech model's load and the startup warmup (the embedding model, the semantic index, the FAQ seeds)
        # once the updates that waited for the start are answered: their imports would compete with those
        # answers for the GIL (docs/BENCHMARKS.md "Launch and restart").
        self._after_start = asyncio.create_task(self._run_after_start(services), name="after-start")
        self.status.ready = True

    async def _run_after_start(self, services: Services) -> None:
        await asyncio.sleep(AFTER_START_DELAY_SECONDS)
        await services.inflight.wait_idle(AFTER_START_IDLE_WAIT_SECONDS)
        for after_start in services.after_start:
            await after_start()
        if self.owns_process:
            freeze_start_up_objects()

    async def _set_commands(self) -> None:
        """The command menus per scope; the supervisor calls it after getMe and retries it on a later connect."""
        assert self.bot is not None

        assert self.services is not None
        catalogues = self.services.catalogues

        def as_bot_commands(items: list[CommandInfo]) -> list[BotCommand]:
            return [BotCommand(command=c.name, description=_(c.description)) for c in items]

        await self.bot.set_my_commands(as_bot_commands(CUSTOMER_COMMANDS), scope=BotCommandScopeDefault())
        for code in catalogues.locales:  # Telegram shows a customer whose app is in German the German menu
            if code != catalogues.default:
                with use_locale(catalogues, code):
                    await self.bot.set_my_commands(as_bot_commands(CUSTOMER_COMMANDS), scope=BotCommandScopeDefault(),
                                                   language_code=code)
        for admin_id in self.settings.admin_ids:
            await self.bot.set_my_commands(
                as_bot_commands(CUSTOMER_COMMANDS + ADMIN_COMMANDS), scope=BotCommandScopeChat(chat_id=admin_id)
            )
        if self.settings.staff_chat_id is not None and STAFF_COMMANDS:
            await self.bot.set_my_commands(
                as_bot_commands(STAFF_COMMANDS), scope=BotCommandScopeChat(chat_id=self.settings.staff_chat_id)
            )

    @web.middleware
    async def _refuse_while_stopping(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """While stopping, no new work: Telegram is told to retry later, admin requests are refused.

        The probes and read-only endpoints keep answering until the side server closes, which
        happens before the services they call stop.
        """
        if self.status.stopping and (request.path == WEBHOOK_PATH or request.method not in ("GET", "HEAD")):
            return web.json_response({"error": "shutting down"}, status=503, headers={"Retry-After": "5"})
        return await handler(request)

    async def stop(self) -> None:
        """Stop in an order that loses nothing, within SHUTDOWN_TIMEOUT_SECONDS + STOP_AFTER_DRAIN_SECONDS.

        1. No new work: polling stops, the webhook and admin POSTs answer 503 (probes still answer).
        2. Handlers in flight finish (until SHUTDOWN_TIMEOUT_SECONDS after the stop began).
        3. The side server closes (requests in flight get SIDE_SERVER_STOP_SECONDS), before the
           services it calls stop.
        4. The services stop in reverse order, together within SERVICES_STOP_SECONDS.
        docker-compose's stop_grace_period leaves room for all of it (tests/test_shutdown.py).
        """
        loop = asyncio.get_running_loop()
        drain_deadline = loop.time() + self.settings.shutdown_timeout_seconds
        self.status.stopping = True
        self.status.ready = False
        await cancel_and_wait(self._after_start)
        if self._supervisor is not None:
            await self._supervisor.stop(timeout=min(POLLING_STOP_SECONDS, self.settings.shutdown_timeout_seconds))
        if self.services is not None:
            left = max(0.0, drain_deadline - loop.time())
            finished = await self.services.inflight.wait_idle(left)
            if not finished:
                log.warning("shutdown: %d handlers still running after %.0fs",
                            self.services.inflight.count, self.settings.shutdown_timeout_seconds)
        if self._supervisor is not None and self._supervisor.polled:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._confirm_polled_updates(),
                                       max(0.5, min(CONFIRM_SECONDS, drain_deadline - loop.time())))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        services_deadline = loop.time() + SERVICES_STOP_SECONDS
        for component in reversed(self._started_components):
            budget = max(MIN_COMPONENT_STOP_SECONDS, services_deadline - loop.time())
            try:
                await asyncio.wait_for(component.stop(), budget)
            except TimeoutError:
                log.warning("shutdown: %s did not stop within %.1f s; going on", type(component).__name__, budget)
            except Exception:
                log.exception("error stopping %s", type(component).__name__)
        self._started_components.clear()
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
        self.owns_process = True
        try:
            await self.start()
            # CPU seconds, not wall: the start's own cost, whatever else the machine runs (docs/BENCHMARKS.md)
            log.info("ready: taking updates, %.2f CPU s after launch", time.process_time())
            await self._stop_requested.wait()
            log.info("stop requested; finishing in-flight work")
        finally:
            await self.stop()

    @staticmethod
    def _bound_port(site: web.TCPSite) -> int | None:
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return sockets[0].getsockname()[1] if sockets else None
