"""The rendered system prompt in the shared cache (`prompt:*`), warmed with the critical group.

The runbook's "warmup critical" covers the prompt: a cold process (or another process
reading the shared tier) finds the prompt for the current prompt version, menu and cafe
facts without rendering it. A reload that changed the menu rewrites it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.cache import CRITICAL, MENU, keys
from bot.knowledge import KnowledgeBase

if TYPE_CHECKING:
    from bot.agent.service import Agent
    from bot.cache import Cache

PROMPT_SYSTEM = f"{keys.PROMPT}system"  # {"prompt_version", "menu_version", "cafe_version", "text"}
PROMPT_TTL_SECONDS = 24 * 3600.0


class PromptCache:
    def __init__(self, cache: Cache, agent: Agent, knowledge: KnowledgeBase) -> None:
        self.cache = cache
        self.agent = agent
        self.knowledge = knowledge

    def entry(self) -> dict[str, Any]:
        return {
            "prompt_version": self.agent.prompt_version,
            "menu_version": self.knowledge.menu.version,
            "cafe_version": self.knowledge.cafe.version,
            "text": self.agent.system_prompt(),
        }

    async def warm(self) -> int:
        return await self.cache.set_many({PROMPT_SYSTEM: self.entry()}, PROMPT_TTL_SECONDS)

    async def _refresh(self, knowledge: KnowledgeBase) -> None:
        await self.warm()

    def register(self) -> None:
        self.cache.warmers.register("prompt", {CRITICAL, MENU}, self.warm)
        self.knowledge.on_change(self._refresh)
