"""FAQ seeds: the cafe's frequent questions, answered and stored by the warmup actions.

A fresh process (or one after a prompt or menu change, which empties the cache) would
otherwise have to wait for customers to ask each frequent question once. Seeds already
stored under the current generation are skipped, so repeated warmups cost no model calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from bot.semantic.cache import SemanticCache

log = logging.getLogger(__name__)

Answerer = Callable[[str], Awaitable[str | None]]  # question → answer (None: the model could not answer)


def load_faq(path: Path) -> list[str]:
    """The seed questions; a missing or malformed file is reported and means no seeds."""
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.error("FAQ seeds not loaded from %s: %s", path, exc)
        return []
    questions = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(questions, list):
        log.error("FAQ seeds not loaded from %s: expected a 'questions:' list", path)
        return []
    return [q.strip() for q in questions if isinstance(q, str) and q.strip()]


async def seed_faq(
    cache: SemanticCache, questions: list[str], answer: Answerer, context: Callable[[str], Any] | None = None
) -> int:
    """Answer and store every seed not yet cached; returns how many were stored.

    `context(question)` gives the agent's cache context for a seed (its versions and the
    sharing policy's assessment). A seed the model cannot answer is skipped (logged); the
    others still go in.
    """
    await cache.wait_ready()
    stored = 0
    for question in questions:
        ctx = context(question) if context is not None else None
        if cache.has(question, ctx):
            continue
        try:
            reply = await answer(question)
        except Exception as exc:
            log.warning("FAQ seed %r not answered: %s", question, exc)
            continue
        if reply and await cache.store(question, reply, ctx, source="faq"):
            stored += 1
    log.info("semantic cache: %d FAQ seeds stored (%d of %d cached now)", stored,
             sum(cache.has(q, context(q) if context else None) for q in questions), len(questions))
    return stored
