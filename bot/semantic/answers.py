"""The semantic cache as the agent sees it: an `AnswerCache`, and the FAQ warmer's answers.

The agent asks its answer caches in order (exact, then this one) before calling the
model, and stores model answers the sharing policy (`bot.semantic.sharing`) lets everyone have.
This adapter translates; the rules stay in the policy and the cache, and a failing model
never relaxes them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.agent.caching import CacheContext, CachedAnswer
from bot.semantic.cache import SemanticCache
from bot.semantic.faq import load_faq, seed_faq

READY_TIMEOUT_SECONDS = 180.0  # the FAQ warmer gives up if the embedding model never loads


class SemanticAnswerCache:
    name = "semantic"

    def __init__(self, semantic: SemanticCache) -> None:
        self.semantic = semantic

    async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None:
        hit = await self.semantic.lookup(question, ctx)
        if hit is None:
            return None
        return CachedAnswer(answer=hit.answer, source="semantic", model=ctx.model,
                            prompt_version=ctx.prompt_version, score=round(hit.score, 3))

    async def store(self, question: str, answer: str, ctx: CacheContext) -> None:
        await self.semantic.store(question, answer, ctx)


class FaqWarmer:
    """Answers the FAQ seeds with the model (no history, no tools) and stores them."""

    def __init__(self, semantic: SemanticCache, agent: Any, knowledge: Any, settings: Any) -> None:
        self.semantic, self.agent, self.knowledge, self.settings = semantic, agent, knowledge, settings

    async def warm(self) -> int:
        questions = load_faq(self.settings.faq_path)
        if not questions or self.agent.model is None:
            return 0  # limited mode: nothing would be a model answer worth sharing
        await asyncio.wait_for(self.semantic.wait_ready(), READY_TIMEOUT_SECONDS)
        return await seed_faq(self.semantic, questions, self._answer,
                              lambda question: self.agent.cache_context(0, question, "faq"))

    async def _answer(self, question: str) -> str | None:
        messages = [{"role": "system", "content": self.agent.system_prompt()}, {"role": "user", "content": question}]
        completion = await self.agent.model.complete(messages, max_tokens=self.settings.openai_max_tokens)
        return None if completion.tool_calls else completion.text
