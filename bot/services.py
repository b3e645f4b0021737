"""The composition root: every service built here, with its collaborators passed in.

This file is the plan of the house. `build_services` builds the services in dependency order,
wires who talks to whom in one place (the answer pipeline, the order tools, the staff card
renderer, the warmers, the cache's stats and clears, the knowledge listeners, the Prometheus
exporters) and lists what starts and stops, in that order. Nothing else registers anything:
a module that is imported or built on its own has no side effects.

Handlers receive the services by parameter name through aiogram's dependency injection
(`Dispatcher(**services.handler_data())`); the side server reads them from its typed app
state; the tests and new back ends swap the seams (`Seams`), never patch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession

from bot.agent import Agent, build_agent
from bot.agent.tools import ToolRegistry
from bot.cache import CRITICAL, MENU, Cache, CachedAnswers, ProfileCache, build_cache
from bot.clock import Clock, clock_from_settings
from bot.components import Component
from bot.config import Settings
from bot.conversation import Conversation
from bot.i18n import Catalogues
from bot.inflight import InflightTracker
from bot.knowledge import KnowledgeBase
from bot.metrics import Metrics
from bot.ops.exporters import install as install_exporters
from bot.ops.measure import local_figures
from bot.ops.retention import RetentionJob
from bot.orders import ORDER_CARD, ORDER_EXPIRED, ORDER_REMINDER, ORDER_STATUS, OrderService, StaffDirectory
from bot.orders.availability import Availability
from bot.orders.expiry import ExpiryNotice, PaymentExpiryJob
from bot.orders.pause import OrderingPause
from bot.orders.payments import Payments
from bot.orders.tools import OrderTools
from bot.outbox import Outbox
from bot.ratelimit import RateLimiter, RateLimits, SlidingWindowLimiter
from bot.replicas import (
    AdvisoryLeases,
    JobLeases,
    KnowledgeSync,
    LocalLeases,
    LocalTurns,
    RedisChatPacer,
    RedisLeases,
    RedisTurnLocks,
    RedisWindowLimiter,
    SharedRedis,
    SloBoard,
    TurnLocks,
    replica_id,
)
from bot.semantic import Embedder, SemanticCache, build_semantic_cache
from bot.semantic.answers import FaqWarmer, SemanticAnswerCache
from bot.telegram.drafts import DraftStreams
from bot.telegram.gateway import BotGateway
from bot.telegram.health import TelegramHealth
from bot.telegram.session import create_bot
from bot.voice import Transcriber, build_transcriber
from bot.voice.gate import VoiceGate
from bot.voice.vocabulary import MenuVocabulary
from handlers.orders.keyboards import OutboxButtons
from storage.db import Database
from storage.knowledge import KnowledgeRepository
from storage.runtime_settings import RuntimeSettingsRepository
from storage.users import UserRepository

__all__ = ["Component", "Seams", "Services", "build_services"]


@dataclass
class Seams:
    """Injectable back ends. `None` means: build the real one from settings.

    Tests hand in fakes or shared, already-loaded models here; nothing is patched. A transcriber
    or embedder handed in is started and stopped by whoever built it.
    """

    telegram_session: BaseSession | None = None
    openai_client: Any = None  # an openai.AsyncOpenAI (or compatible) client
    transcriber: Transcriber | None = None
    embedder: Embedder | None = None
    clock: Clock | None = None  # the calendar "now" (None: CLOCK_FROZEN_AT or the system clock)


@dataclass(frozen=True)
class Services:
    """Everything the handlers, the side server and the jobs use, built once by `build_services`."""

    settings: Settings
    clock: Clock
    db: Database
    metrics: Metrics
    inflight: InflightTracker
    catalogues: Catalogues  # the languages: LocaleMiddleware sets one per update
    telegram: TelegramHealth  # the link to the Bot API, as the calls see it
    users: UserRepository
    profiles: ProfileCache
    runtime_settings: RuntimeSettingsRepository
    knowledge: KnowledgeBase
    cache: Cache
    semantic: SemanticCache | None  # None when SEMANTIC_CACHE_ENABLED=false
    cached_answers: CachedAnswers  # admins find and forget answers in both caches
    agent: Agent
    conversation: Conversation
    rate_limits: RateLimits  # per user, before any handler (RateLimitMiddleware): shared by replicas with Redis
    drafts: DraftStreams  # model answers being shown while written (private chats)
    transcriber: Transcriber
    vocabulary: MenuVocabulary  # the menu's words told to the speech decoder, rebuilt on a menu change
    voice_gate: VoiceGate
    retention: RetentionJob
    leases: JobLeases  # the retention job and the webhook check on one replica at a time (Redis, else PostgreSQL)
    knowledge_sync: KnowledgeSync | None  # /reload_menu and /soldout reach every replica (Redis or PostgreSQL)
    replica: str  # this process among the replicas: REPLICA_NAME, else made up at start
    slo_board: SloBoard | None  # every replica's SLO figures in Redis, for the fleet's /api/slo (None: no Redis)
    outbox: Outbox
    staff: StaffDirectory
    orders: OrderService
    availability: Availability  # /soldout and /back: the menu's overrides, and the cached answers they retire
    payments: Payments  # paying in the chat (PAYMENT_PROVIDER_TOKEN): invoices, the pre-checkout re-check, payments
    payment_expiry: PaymentExpiryJob  # unpaid orders past PAYMENT_EXPIRY_MINUTES cancelled, on one replica a period
    bot: Bot | None  # None when Telegram is bypassed (TELEGRAM_BYPASS): nothing is sent or received
    components: tuple[Component, ...]  # started in this order, stopped in reverse
    after_start: tuple[Callable[[], Awaitable[None]], ...]  # once every component runs (the startup warmup)

    def handler_data(self) -> dict[str, Any]:
        """What aiogram injects into handlers, filters and middlewares, by name (aiogram adds `bot` itself)."""
        skip = {"bot", "components", "after_start"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


def build_services(settings: Settings, db: Database, seams: Seams) -> Services:
    """Build and wire every service; read top to bottom, this is the service graph."""
    clock = seams.clock or clock_from_settings(settings)
    metrics = Metrics(replica=settings.replica_name)
    telegram = TelegramHealth(settings)
    bot = create_bot(settings, seams.telegram_session, telegram) if settings.telegram_enabled else None

    # The languages the bot speaks (gettext catalogues), read once.
    catalogues = Catalogues()

    # Storage and the cafe's data.
    users = UserRepository(db)
    runtime_settings = RuntimeSettingsRepository(db)
    knowledge = KnowledgeBase(settings, KnowledgeRepository(db), runtime_settings)  # + the staff's /soldout

    # The caches: the tiered key-value cache (memory, Redis) and the semantic cache of shared answers.
    cache, profiles = build_cache(settings, users, knowledge)
    semantic, semantic_parts = build_semantic_cache(settings, db, knowledge, seams.embedder)
    cached_answers = CachedAnswers(cache, semantic, ttl_seconds=settings.answer_cache_ttl_seconds)

    # Ordering: the outbox delivers what the order service writes, staff cards included. The messenger comes
    # in through seams: the gateway makes the outbox's calls and answers who is in the staff group (nothing is
    # sent when Telegram is bypassed); the buttons on the domain's messages are drawn by the ordering handlers.
    # Several replicas behind one webhook share Redis (when configured) for what must hold across them: here
    # Telegram's per-chat send limits, counted once for all replicas' outboxes (each falls back to its own count
    # while Redis fails); below, the turns, the rate limits, the job leases and the knowledge announcements.
    shared = SharedRedis.from_settings(settings)
    gateway = BotGateway(lambda: bot)
    outbox = Outbox(settings, db, gateway, clock=clock,  # the calendar clock says when a reminder is due
                    limiter=RedisChatPacer(shared) if shared is not None else None)
    pause = OrderingPause(runtime_settings, knowledge, clock)  # /pause, /resume: a row all processes read
    orders = OrderService(settings, db, knowledge, users, outbox, OutboxButtons(), pause, clock, catalogues)
    outbox.register(ORDER_CARD, orders)
    outbox.register(ORDER_STATUS, orders.customer_status)
    outbox.register(ORDER_REMINDER, orders.staff_reminder)
    outbox.register(ORDER_EXPIRED, ExpiryNotice(orders))
    payments = Payments(orders, db, clock)
    staff = StaffDirectory(settings, gateway)
    availability = Availability(knowledge, cached_answers)

    # The agent: its shared answers (exact, then semantic) and its tools (ordering in plain words).
    tools = ToolRegistry()
    OrderTools(orders, outbox).register(tools)
    agent = build_agent(settings, db, knowledge, runtime_settings, cache,
                        semantic=SemanticAnswerCache(semantic) if semantic is not None else None, tools=tools,
                        openai_client=seams.openai_client, metrics=metrics, clock=clock)

    # What the caches hear from the others, and what their warmups run (`/warmup`, startup, Redis recovery).
    cache.warmers.register("user-profiles", {CRITICAL}, profiles.warm)
    if semantic is not None:
        knowledge.on_change(semantic.on_knowledge_change)
        cache.add_stats_provider("semantic", semantic.status)
        cache.on_clear_prefix(semantic.on_cache_clear_prefix)
        # The menu group: this process's semantic index ready for the menu in force, then the FAQ seeds answered
        # for it if a menu change dropped them, so the first customer after a start or a menu edit gets hits.
        cache.warmers.register("semantic-index", {CRITICAL, MENU}, semantic.warm)
        cache.warmers.register("faq-seeds", {CRITICAL, MENU}, FaqWarmer(semantic, agent, knowledge, settings).warm)

    # Several replicas behind one webhook: one turn at a time per customer and the rate limits, kept in Redis
    # when it is configured (each falls back to this process's memory while Redis fails).
    turns: TurnLocks = RedisTurnLocks(shared) if shared is not None else LocalTurns()
    window = settings.rate_limit_window_seconds

    def limiter(name: str, local: SlidingWindowLimiter) -> RateLimiter:
        return RedisWindowLimiter(shared, name, local) if shared is not None else local

    rate_limits = RateLimits(
        messages=limiter("messages", SlidingWindowLimiter(settings.rate_limit_messages, window)),
        buttons=limiter("buttons", SlidingWindowLimiter(settings.rate_limit_buttons, window)))
    voice_limiter = limiter("voice", SlidingWindowLimiter(settings.voice_rate_limit_notes,
                                                          settings.voice_rate_limit_window_seconds))

    # Voice: the transcriber (shared by tests through seams) is told the words of the menu in force. One built
    # here loads its model after the start (`after_start`), or when the first voice note asks for it.
    after_start: list[Callable[[], Awaitable[None]]] = []
    transcriber: Transcriber
    if seams.transcriber is not None:
        transcriber = seams.transcriber
    else:
        transcriber = whisper = build_transcriber(settings)
        after_start.append(whisper.load_in_background)
    vocabulary = MenuVocabulary(knowledge)
    knowledge.on_change(vocabulary.on_knowledge_change)
    # The periodic jobs on one replica at a time, and a menu reload or sold-out mark on one replica taken by the
    # others (announced in Redis, checked in the shared database anyway every 30 s). One process on SQLite
    # without Redis: nobody to share with.
    # On PostgreSQL an advisory lock per job decides while Redis is absent or down.
    advisory_locks = db.advisory_locks()
    pg_leases = AdvisoryLeases(advisory_locks) if advisory_locks is not None else None
    redis_leases = RedisLeases(shared, fallback=pg_leases) if shared is not None else None
    leases: JobLeases = redis_leases or pg_leases or LocalLeases()
    knowledge_sync = KnowledgeSync(knowledge, shared) if shared is not None or db.dialect == "postgresql" else None
    if knowledge_sync is not None:
        knowledge.on_own_change(knowledge_sync.announce)
    retention = RetentionJob(db, settings, leases=leases)
    payment_expiry = PaymentExpiryJob(payments, orders, clock, leases=leases)
    # The fleet's SLO: this replica's figures published to Redis every few seconds, read by any replica's /api/slo.
    replica = replica_id(settings.replica_name)
    slo_board = SloBoard(shared, replica, lambda: local_figures(services),
                         period=settings.slo_publish_seconds) if shared is not None else None
    services = Services(
        settings=settings, clock=clock, db=db, metrics=metrics, inflight=InflightTracker(), catalogues=catalogues,
        telegram=telegram,
        users=users, profiles=profiles, runtime_settings=runtime_settings, knowledge=knowledge, cache=cache,
        semantic=semantic, cached_answers=cached_answers, agent=agent,
        conversation=Conversation(agent, settings, turns), rate_limits=rate_limits,
        drafts=DraftStreams(settings.telegram_drafts), transcriber=transcriber, vocabulary=vocabulary,
        voice_gate=VoiceGate(settings, limiter=voice_limiter), retention=retention, leases=leases,
        knowledge_sync=knowledge_sync, replica=replica, slo_board=slo_board, outbox=outbox, staff=staff,
        orders=orders, availability=availability, payments=payments, payment_expiry=payment_expiry, bot=bot,
        components=(
            knowledge,
            *((knowledge_sync,) if knowledge_sync is not None else ()),
            vocabulary,  # after the knowledge base: built from the menu it loaded
            *(() if seams.transcriber is not None else (transcriber,)),
            *semantic_parts,  # the embedding model, the semantic cache, its Redis sharing
            cache,
            agent,
            *((pg_leases,) if pg_leases is not None else ()),  # stopped after the jobs: hands them over
            *((redis_leases,) if redis_leases is not None else ()),  # likewise
            retention,
            payment_expiry,
            outbox,
            *((slo_board,) if slo_board is not None else ()),
            *((shared,) if shared is not None else ()),  # closes the guards' Redis connection last
        ),
        # Once the first updates are answered (bot/app.py): the speech model's load, the startup warmup
        # (the embedding model, the semantic index, the FAQ seeds), in the background.
        after_start=(*after_start, cache.after_start),
    )
    install_exporters(metrics, services)
    return services
