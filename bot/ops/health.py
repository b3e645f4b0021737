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

from typing import Any


def degraded_reasons(services: Any) -> list[str]:
    reasons: list[str] = []
    agent = getattr(services, "agent", None)
    if agent is not None:
        if agent.limited:
            reasons.append("OpenAI not configured (no OPENAI_API_KEY): limited mode, answers from caches and data")
        elif agent.breaker is not None:
            snap = agent.breaker.snapshot()
            if str(snap.state) == "open":
                reasons.append(f"OpenAI circuit open after {snap.consecutive_failures} consecutive failures "
                               f"(next try in {snap.retry_in_s:.0f} s)")
            elif str(snap.state) == "half-open":
                reasons.append("OpenAI circuit half-open: probing the model server after failures")
        budget = getattr(agent, "budget", None)
        if budget is not None and budget.global_spent:
            status = budget.status()
            reasons.append(f"daily token budget spent ({status['spent_today']} of {status['daily_tokens']} tokens, "
                           f"DAILY_TOKEN_BUDGET): answers from caches and data until midnight ({status['timezone']})")
    cache = getattr(services, "cache", None)
    if cache is not None:
        stats = cache.stats()
        if stats["redis"]["configured"] and not cache.available:
            reason = stats["fallback"]["reason"] or stats["redis"]["state"]
            reasons.append(f"Redis down: the cache serves from process memory ({reason})")
    semantic = getattr(services, "semantic", None)
    if semantic is not None and getattr(semantic, "load_error", None):
        reasons.append(f"Semantic cache off: the embedding model failed to load ({semantic.load_error}); "
                       "trying again by itself")
    telegram = getattr(services, "telegram", None)
    if telegram is not None:
        reasons += telegram.reasons()
    transcriber = getattr(services, "transcriber", None)
    if transcriber is None:
        reasons.append("Whisper not loaded: voice is not configured")
    else:
        status = transcriber.status()
        if status.status == "loading":
            reasons.append("Whisper not loaded yet (loading)")
        elif status.status == "error":
            reasons.append(f"Whisper not loaded: {status.error or 'the model failed to load'}")
    return reasons


def cache_block(services: Any) -> dict[str, Any]:
    window = services.metrics.chat_window()
    block: dict[str, Any] = {
        "exact": {
            "hit_rate": _round(window.share("cache")),
            "basis": f"chat turns answered from the exact-answer cache, last {window.seconds / 60:.0f} minutes",
        },
    }
    cache = getattr(services, "cache", None)
    if cache is not None:
        stats = cache.stats()
        block["backend"] = cache.backend
        block["redis"] = {"configured": stats["redis"]["configured"], "available": cache.available,
                          "state": stats["redis"]["state"], "hit_rate": stats["tiers"]["redis"]["hit_rate"]}
    semantic = getattr(services, "semantic", None)
    if semantic is None:
        block["semantic"] = {"enabled": False, "hit_rate": None}
    else:
        block["semantic"] = {**semantic.status(), "basis": "hits / lookups of shareable questions, since start"}
    return block


def chat_status(services: Any) -> dict[str, Any]:
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


def _budget(services: Any) -> dict[str, Any] | None:
    """Today's token figures; a customer over their own budget is noted here, not as a degradation."""
    budget = getattr(services.agent, "budget", None)
    return None if budget is None else budget.status()


def _whisper(services: Any) -> dict[str, Any]:
    transcriber = getattr(services, "transcriber", None)
    if transcriber is None:
        return {"status": "error", "loaded": False}
    status = transcriber.status()
    return {"status": status.status, "loaded": status.loaded, "model": status.model}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
