"""The services container and the seams tests (or new back ends) can swap.

Handlers receive services by parameter name through aiogram's dependency
injection (`Dispatcher(**services.handler_data())`); the side server reads them
from its typed app state. Nothing is a module-level global.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from aiogram import Bot
from aiogram.client.session.base import BaseSession

from bot.agent import Agent, build_agent
from bot.cache import Cache, CachedAnswers, ProfileCache, build_cache
from bot.clock import Clock, SystemClock, clock_from_settings
from bot.config import Settings
from bot.conversation import Conversation
from bot.inflight import InflightTracker
from bot.knowledge import KnowledgeBase
from bot.metrics import Metrics
from bot.ops.exporters import install as install_exporters
from bot.ops.retention import RetentionJob
from bot.orders import OrderService, StaffDirectory, build_orders
from bot.outbox import Outbox
from bot.semantic import SemanticCache, build_semantic_cache
from bot.telegram.gateway import BotGateway
from bot.telegram.health import TelegramHealth
from bot.voice import Transcriber, build_transcriber
from bot.voice.gate import VoiceGate
from handlers.orders.keyboards import OutboxButtons
from storage.db import Database
from storage.knowledge import KnowledgeRepository
from storage.runtime_settings import RuntimeSettingsRepository
from storage.users import UserRepository


class Component(Protocol):
    """Something with a lifetime: started after the database opens, stopped in reverse order.

    A component may also have `async def after_start()`: called once every component has
    started, for work that needs the others running (the cache's startup warmup reads
    the knowledge base and asks the agent to answer the FAQ seeds).
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Seams:
    """Injectable back ends. `None` means: build the real one from settings.

    Tests hand in fakes or shared, already-loaded models here; nothing is patched.
    """

    telegram_session: BaseSession | None = None
    openai_client: Any = None  # an openai.AsyncOpenAI (or compatible) client
    transcriber: Any = None  # a bot.voice Transcriber
    embedder: Any = None  # a bot.semantic Embedder
    clock: Clock | None = None  # the calendar "now" (None: CLOCK_FROZEN_AT or the system clock)


@dataclass
class Services:
    settings: Settings
    db: Database
    users: UserRepository
    profiles: ProfileCache
    runtime_settings: RuntimeSettingsRepository
    metrics: Metrics
    inflight: InflightTracker
    knowledge: KnowledgeBase
    cache: Cache
    agent: Agent
    conversation: Conversation
    transcriber: Transcriber | None = None
    voice_gate: VoiceGate | None = None
    retention: RetentionJob | None = None
    semantic: SemanticCache | None = None
    cached_answers: CachedAnswers | None = None  # admins find and forget answers in both caches
    orders: OrderService | None = None
    outbox: Outbox | None = None
    staff: StaffDirectory | None = None
    bot: Bot | None = None
    telegram: TelegramHealth | None = None  # the link to the Bot API, as the calls see it
    clock: Clock = field(default_factory=SystemClock)
    components: list[Component] = field(default_factory=list)

    def handler_data(self) -> dict[str, Any]:
        """What aiogram injects into handlers, filters and middlewares, by name."""
        skip = {"bot", "components"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


def build_services(settings: Settings, db: Database, seams: Seams) -> Services:
    """Wire every service from settings; features add theirs here."""
    users = UserRepository(db)
    runtime_settings = RuntimeSettingsRepository(db)
    knowledge = KnowledgeBase(settings, KnowledgeRepository(db))
    cache, profiles = build_cache(settings, users, knowledge)
    metrics = Metrics()
    clock = seams.clock or clock_from_settings(settings)
    agent = build_agent(settings, db, knowledge, runtime_settings, cache, openai_client=seams.openai_client,
                        metrics=metrics, clock=clock)
    services = Services(
        settings=settings,
        db=db,
        users=users,
        profiles=profiles,
        runtime_settings=runtime_settings,
        metrics=metrics,
        inflight=InflightTracker(),
        knowledge=knowledge,
        cache=cache,
        agent=agent,
        conversation=Conversation(agent, settings),
        telegram=TelegramHealth(settings),
        clock=clock,
    )
    services.components.append(services.knowledge)
    # A transcriber handed in through the seams is started and stopped by whoever built it.
    services.transcriber = seams.transcriber or build_transcriber(settings)
    services.voice_gate = VoiceGate(settings)
    if seams.transcriber is None:
        services.components.append(services.transcriber)
    services.semantic, semantic_parts = build_semantic_cache(settings, db, knowledge, agent, cache, seams.embedder)
    services.components.extend(semantic_parts)
    services.cached_answers = CachedAnswers(cache, services.semantic, ttl_seconds=settings.answer_cache_ttl_seconds)
    services.components.append(services.cache)  # its startup warmup runs in after_start, once all are up
    services.components.append(services.agent)
    services.retention = RetentionJob(db, settings)
    services.components.append(services.retention)
    gateway = BotGateway(lambda: services.bot)  # the outbox's sends and the staff checks, once the bot exists
    services.outbox, services.staff, services.orders = build_orders(
        settings, db, services.knowledge, services.users, gateway, gateway, OutboxButtons(), agent.tools, clock
    )
    services.components.append(services.outbox)
    install_exporters(services.metrics, services)  # last: it reads the services wired above
    return services
