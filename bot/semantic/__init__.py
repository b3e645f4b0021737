"""The semantic cache: instant answers to frequent questions in any wording, and never a wrong one.

Public surface: `SemanticCache` (lookup/store), `build_semantic_cache` (from settings),
the `Embedder` protocol with its CTranslate2 (default) and sentence-transformers implementations, `RedisShare`
(entries shared between processes) and the FAQ seeds.
"""

from __future__ import annotations

from bot.components import Component
from bot.config import Settings
from bot.knowledge import KnowledgeBase
from bot.semantic.cache import SemanticCache, SemanticHit
from bot.semantic.ct2 import Ct2Embedder
from bot.semantic.embedder import BackgroundEmbedder, Embedder, SentenceTransformerEmbedder
from bot.semantic.faq import load_faq, seed_faq
from bot.semantic.shared import RedisShare
from storage.db import Database
from storage.semantic import SemanticCacheRepository

__all__ = [
    "Ct2Embedder", "Embedder", "RedisShare", "SemanticCache", "SemanticHit", "SentenceTransformerEmbedder",
    "build_semantic_cache", "load_faq", "seed_faq",
]


def build_semantic_cache(
    settings: Settings,
    db: Database,
    knowledge: KnowledgeBase,
    embedder: Embedder | None = None,
) -> tuple[SemanticCache | None, list[Component]]:
    """The cache and the components to start, in order (model, cache, Redis sharing); None when disabled.

    An embedder handed in (tests) is used as is, never started or stopped here. Who the cache
    talks to (the agent's answers, the knowledge base's changes, the cache service's stats,
    clears and warmups) is wired by the composition root, `bot/services.py`.
    """
    if not settings.semantic_cache_enabled:
        return None, []
    from bot.prompts import prompt_version

    components: list[Component] = []
    if embedder is None:
        model: BackgroundEmbedder
        if settings.embedding_backend == "sentence-transformers":
            model = SentenceTransformerEmbedder(settings.embedding_model, int8=settings.embedding_int8)
        else:  # the default: the same vectors without torch in the process (bot/semantic/ct2.py)
            model = Ct2Embedder(settings.embedding_model, int8=settings.embedding_int8)
        components.append(model)
        embedder = model
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
    components.append(semantic)
    if settings.redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        components.append(RedisShare(semantic, client, key_prefix=settings.redis_key_prefix))
    return semantic, components
