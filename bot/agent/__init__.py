"""The agent: menu-grounded answers from an OpenAI-compatible model that survive its outages.

Public surface: `Agent` (`answer(user_id, text, kind) -> AgentReply`), the tool registry
(`ToolRegistry`, filled by the composition root), the shared answers (`AnswerPipeline` of
`AnswerCache` stages, with `CacheContext` and `CachedAnswer`) and `build_agent`, which builds
an agent from settings with its collaborators passed in.
"""

from __future__ import annotations

import time
from typing import Any

from bot.agent.breaker import BreakerState, CircuitBreaker
from bot.agent.budget import BudgetRefusal, TokenBudget, zone_of
from bot.agent.caching import (
    AnswerCache,
    CacheContext,
    CachedAnswer,
    ExactAnswerCache,
    KeyValueStore,
    MemoryStore,
    normalise_question,
)
from bot.agent.limits import AgentLimits, LimitsError, LimitsService
from bot.agent.llm import ChatModel, ModelError, RetryPolicy, build_openai_client
from bot.agent.offline import OfflineAnswerer
from bot.agent.pipeline import AnswerPipeline
from bot.agent.service import Agent, AgentReply
from bot.agent.tools import ToolRegistry
from bot.clock import Clock
from bot.config import Settings
from bot.knowledge import KnowledgeBase
from bot.metrics import Metrics
from storage.agent_events import AgentEventRepository
from storage.db import Database
from storage.dialogs import DialogRepository
from storage.runtime_settings import RuntimeSettingsRepository

__all__ = [
    "Agent", "AgentLimits", "AgentReply", "AnswerCache", "AnswerPipeline", "BreakerState", "BudgetRefusal",
    "CacheContext", "CachedAnswer", "ChatModel", "CircuitBreaker", "ExactAnswerCache", "KeyValueStore",
    "LimitsError", "LimitsService", "MemoryStore", "ModelError", "OfflineAnswerer", "RetryPolicy", "TokenBudget",
    "ToolRegistry", "build_agent", "normalise_question",
]

BREAKER_FAILURES = 5
BREAKER_RESET_SECONDS = 30.0


def build_agent(
    settings: Settings, db: Database, knowledge: KnowledgeBase, runtime_settings: RuntimeSettingsRepository,
    cache: KeyValueStore | None = None, *, semantic: AnswerCache | None = None, tools: ToolRegistry | None = None,
    openai_client: Any = None, metrics: Metrics | None = None, clock: Clock | None = None,
) -> Agent:
    """The agent with its model (None without an API key or client: limited mode), its daily token budgets,
    its tools and its shared answers: the exact cache, then `semantic` when given.

    With the cache service the exact answers live under `answer:` in the shared cache; without it
    (tools, tests) a small in-memory store serves.
    """
    client = openai_client if openai_client is not None else build_openai_client(settings)
    model = None
    if client is not None:
        model = ChatModel(
            client, settings.openai_model, timeout=settings.openai_timeout,
            retry=RetryPolicy(max_retries=settings.openai_max_retries),
            breaker=CircuitBreaker(BREAKER_FAILURES, BREAKER_RESET_SECONDS),
            on_request=metrics.record_model_request if metrics is not None else None,
        )
    events = AgentEventRepository(db)
    budget = TokenBudget(events, settings.user_daily_token_budget, settings.daily_token_budget,
                         lambda: zone_of(knowledge.cafe.timezone), metrics=metrics,
                         clock=(lambda: clock.now().timestamp()) if clock is not None else time.time)
    exact = ExactAnswerCache(cache if cache is not None else MemoryStore(), settings.answer_cache_ttl_seconds)
    answers = AnswerPipeline([exact] if semantic is None else [exact, semantic])
    return Agent(
        settings, knowledge, DialogRepository(db), events,
        LimitsService(settings, runtime_settings), model, metrics, clock, budget=budget,
        answers=answers, tools=tools,
    )
