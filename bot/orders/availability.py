"""Sold out and back again, from the staff group (/soldout <item>, /back <item>).

The mark is an override of menu.yaml's `available`, kept in the database by the knowledge base
(`KnowledgeBase.set_available`), so /menu, the agent's tools, its prompt and the offline answers
see it at once. Answers cached before it may still say the item can be had: every cached answer
(exact and semantic) that names the item is forgotten with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.knowledge import KnowledgeBase, MenuItem

log = logging.getLogger(__name__)


class ForgottenAnswers(Protocol):
    """bot.cache.answers.Forgotten: only how many answers it names is read here."""

    @property
    def answers(self) -> Sequence[object]: ...


class AnswerForgetter(Protocol):
    """What this needs of the answer caches (bot.cache.CachedAnswers)."""

    async def forget_matching(self, query: str) -> ForgottenAnswers: ...


@dataclass(frozen=True)
class Marked:
    item: MenuItem
    forgotten: int  # cached answers dropped because they named the item


class Availability:
    def __init__(self, knowledge: KnowledgeBase, answers: AnswerForgetter | None = None) -> None:
        self._knowledge = knowledge
        self._answers = answers

    def sold_out(self) -> list[MenuItem]:
        return [item for item in self._knowledge.menu.items() if not item.available]

    async def mark(self, item_id: str, available: bool, by: int | None) -> Marked:
        item = await self._knowledge.set_available(item_id, available, by)
        return Marked(item, await self._forget_answers_about(item))

    async def _forget_answers_about(self, item: MenuItem) -> int:
        if self._answers is None:
            return 0
        forgotten = 0
        for phrase in dict.fromkeys((item.name, *item.names.values(), *item.aliases)):
            try:
                forgotten += len((await self._answers.forget_matching(phrase)).answers)
            except ValueError:  # a phrase without words
                continue
            except Exception:  # the caches are best effort; the mark itself is already in force
                log.warning("forgetting cached answers about %s failed", item.id, exc_info=True)
        if forgotten:
            log.info("forgot %d cached answers naming %s", forgotten, item.id)
        return forgotten
