"""What several replicas of the bot must agree on, kept in Redis while it answers.

`SharedRedis` (shared.py) is the one connection for it, `RedisTurnLocks` (turns.py) lets one
replica at a time answer a customer, `RedisWindowLimiter` (limits.py) counts a customer's
messages once for all replicas. Each has a per-process twin used without Redis or while Redis
fails (the in-memory lock of bot/conversation.py, bot/ratelimit.py's `SlidingWindowLimiter`):
a replica keeps answering when Redis is gone, only the guarantees shrink to its own process.
Built and wired only in bot/services.py.
"""

from __future__ import annotations

from bot.replicas.limits import RedisWindowLimiter
from bot.replicas.shared import SharedRedis, Unavailable
from bot.replicas.turns import LocalTurns, RedisTurnLocks, TurnLocks

__all__ = ["LocalTurns", "RedisTurnLocks", "RedisWindowLimiter", "SharedRedis", "TurnLocks", "Unavailable"]
