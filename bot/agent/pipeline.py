"""The shared answers as one pipeline: ordered stages the agent asks before the model.

A stage is an `AnswerCache` (the exact cache, then the semantic one). The pipeline is built
once, in the composition root, and handed to the agent: lookups go through the stages in
order and the first non-empty answer wins; a model answer is offered to every stage, each
of which asks the one sharing policy (through the turn's `CacheContext`) whether it may keep
it. A failing stage is logged and skipped, so a broken cache costs a model call, never an
answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.agent.caching import AnswerCache, CacheContext, CachedAnswer

log = logging.getLogger(__name__)


class AnswerPipeline:
    def __init__(self, stages: Sequence[AnswerCache] = ()) -> None:
        self.stages: tuple[AnswerCache, ...] = tuple(stages)

    def names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None:
        for stage in self.stages:
            try:
                hit = await stage.lookup(question, ctx)
            except Exception:
                log.warning("answer cache %s lookup failed", stage.name, exc_info=True)
                continue
            if hit is not None and hit.answer.strip():
                return hit
        return None

    async def store(self, question: str, answer: str, ctx: CacheContext) -> None:
        for stage in self.stages:
            try:
                await stage.store(question, answer, ctx)
            except Exception:
                log.warning("answer cache %s store failed", stage.name, exc_info=True)
