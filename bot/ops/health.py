"""The runbook's agent health check: `GET /api/agent/chat` → status and cache info.

`ok` or `degraded` with the reasons an operator can act on (the OpenAI circuit is open,
Redis is down, Telegram unreachable, rejecting the token or bypassed, Whisper is not
loaded, no model is configured, the cafe's daily token budget is spent), the model, prompt
and menu versions, chat latency and error rate over the last 5 minutes, the cache block
(where cache reads are served from and the exact and semantic hit rates) and the budget
block (tokens spent today, users over their own budget: one customer's limit is not a
degradation of the service). Degraded still
answers 200: the bot keeps serving customers from caches and its own data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.agent.breaker import BreakerState

if TYPE_CHECKING:
    from bot.services import Services


def degraded_reasons(services: Services) -> list[str]:
    reasons: list[str] = []
    agent = services.agent
    if agent.limited:
        reasons.append("OpenAI not configured (no OPENAI_API_KEY): limited mode, answers from caches and data")
    elif agent.breaker is not None:
        snap = agent.breaker.snapshot()
        if snap.state is BreakerState.OPEN:
            reasons.append(f"OpenAI circuit open after {snap.consecutive_failures} consecutive failures "
                           f"(next try in {snap.retry_in_s:.0f} s)")
        elif snap.state is BreakerState.HALF_OPEN:
            reasons.append("OpenAI circuit half-open: probing the model server after failures")
    budget = agent.budget
    if budget is not None and budget.global_spent:
        spent = budget.status()
        reasons.append(f"daily token budget spent ({spent['spent_today']} of {spent['daily_tokens']} tokens, "
                       f"DAILY_TOKEN_BUDGET): answers from caches and data until midnight ({spent['timezone']})")
    cache = services.cache
    stats = cache.stats()
    if stats["redis"]["configured"] and not cache.available:
        reason = stats["fallback"]["reason"] or stats["redis"]["state"]
        reasons.append(f"Redis down: the cache serves from process memory ({reason})")
    semantic = services.semantic
    if semantic is not None and semantic.load_error:
        reasons.append(f"Semantic cache off: the embedding model failed to load ({semantic.load_error}); "
                       "trying again by itself")
    reasons += services.telegram.reasons()
    status = services.transcriber.status()
    if status.status == "loading":
        reasons.append("Whisper not loaded yet (loading)")
    elif status.status == "error":
        reasons.append(f"Whisper not loaded: {status.error or 'the model failed to load'}")
    return reasons


def cache_block(services: Services) -> dict[str, Any]:
    window = services.metrics.chat_window()
    block: dict[str, Any] = {
        "exact": {
            "hit_rate": _round(window.share("cache")),
            "basis": f"chat turns answered from the exact-answer cache, last {window.seconds / 60:.0f} minutes",
        },
    }
    cache = services.cache
    stats = cache.stats()
    block["backend"] = cache.backend
    block["redis"] = {"configured": stats["redis"]["configured"], "available": cache.available,
                      "state": stats["redis"]["state"], "hit_rate": stats["tiers"]["redis"]["hit_rate"]}
    semantic = services.semantic
    if semantic is None:
        block["semantic"] = {"enabled": False, "hit_rate": None}
    else:
        block["semantic"] = {**semantic.status(), "basis": "hits / lookups of shareable questions, since start"}
    return block


def chat_status(services: Services) -> dict[str, Any]:
    """The agent's own status (model, versions, breaker, caches, tools) with health and numbers added."""
    reasons = degraded_reasons(services)
    window = services.metrics.chat_window()
    agent = services.agent.status()
    return {
        **agent,
        "status": "degraded" if reasons else "ok",
        "mode": "limited" if agent["status"] == "limited" else "model",
        "reasons": reasons,
        "window_s": window.seconds,
        "turns": window.turns,
        "latency_ms": {"p50": _round(window.p50_ms, 1), "p95": _round(window.p95_ms, 1)},
        "error_rate": _round(window.error_rate),
        "answered_by": window.sources,
        "cache": cache_block(services),
        "whisper": _whisper(services),
        "budget": _budget(services),
    }


def _budget(services: Services) -> dict[str, Any] | None:
    """Today's token figures; a customer over their own budget is noted here, not as a degradation."""
    budget = services.agent.budget
    return None if budget is None else budget.status()


def _whisper(services: Services) -> dict[str, Any]:
    status = services.transcriber.status()
    return {"status": status.status, "loaded": status.loaded, "model": status.model}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
