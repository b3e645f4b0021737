"""The semantic cache: instant answers to frequent questions in any wording, and never a wrong one.

Public surface: `SemanticCache` (lookup/store), `build_semantic_cache` (from settings),
the `Embedder` protocol with its sentence-transformers implementation, `RedisShare`
(entries shared between processes) and the FAQ seeds.
"""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.semantic.cache import SemanticCache, SemanticHit
from bot.semantic.embedder import Embedder, SentenceTransformerEmbedder
from bot.semantic.faq import load_faq, seed_faq
from bot.semantic.shared import RedisShare
from storage.db import Database
from storage.semantic import SemanticCacheRepository

__all__ = [
    "Embedder", "RedisShare", "SemanticCache", "SemanticHit", "SentenceTransformerEmbedder",
    "build_semantic_cache", "load_faq", "seed_faq",
]


def build_semantic_cache(
    settings: Settings,
    db: Database,
    knowledge: Any,
    agent: Any = None,
    cache: Any = None,
    embedder: Embedder | None = None,
) -> tuple[SemanticCache | None, list[Any]]:
    """The cache and the components to start, in order (model, cache, Redis sharing); None when disabled.

    With the agent it becomes the agent's second answer cache (after the exact one);
    with the cache service it adds the `semantic` block to its stats and the FAQ seeds
    to its critical warmup. An embedder handed in (tests) is used as is, never stopped here.
    """
    if not settings.semantic_cache_enabled:
        return None, []
    from bot.prompts import prompt_version

    components: list[Any] = []
    if embedder is None:
        embedder = SentenceTransformerEmbedder(settings.embedding_model, int8=settings.embedding_int8)
        components.append(embedder)
    semantic = SemanticCache(
        embedder=embedder,
        repo=SemanticCacheRepository(db),
        threshold=settings.semantic_cache_threshold,
        anchored_threshold=settings.semantic_cache_anchored_threshold,
        ttl_seconds=settings.semantic_cache_ttl_seconds,
        max_entries=settings.semantic_cache_max_entries,
        prompt_version=lambda: prompt_version(settings),
        llm_model=settings.openai_model,
        menu=lambda: knowledge.menu,
        cafe=lambda: knowledge.cafe,
    )
    knowledge.on_change(semantic.on_knowledge_change)
    components.append(semantic)
    if settings.redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        components.append(RedisShare(semantic, client, key_prefix=settings.redis_key_prefix))
    if agent is not None:
        from bot.semantic.answers import FaqWarmer, SemanticAnswerCache

        agent.register_cache(SemanticAnswerCache(semantic))
        if cache is not None:
            from bot.cache import CRITICAL, MENU

            cache.add_stats_provider("semantic", semantic.status)
            cache.on_clear_prefix(semantic.on_cache_clear_prefix)
            # `warmup-menu` (also part of the critical warmup): this process's semantic index ready for the
            # menu in force — model loaded, the matcher's dictionary built from the menu and cafe files,
            # the entries of this menu loaded — then the FAQ seeds answered for it if a menu change
            # dropped them, so the first customer after a start or a menu edit gets cached answers.
            cache.warmers.register("semantic-index", {CRITICAL, MENU}, semantic.warm)
            cache.warmers.register("faq-seeds", {CRITICAL, MENU}, FaqWarmer(semantic, agent, knowledge, settings).warm)
    return semantic, components
