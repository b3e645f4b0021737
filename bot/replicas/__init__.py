"""What several replicas of the bot must agree on, kept in Redis while it answers.

`SharedRedis` (shared.py) is the one connection for it, `RedisTurnLocks` (turns.py) lets one
replica at a time answer a customer, `RedisWindowLimiter` (limits.py) counts a customer's
messages once for all replicas, `KnowledgeSync` (knowledge.py) brings a `/reload_menu` or
`/soldout` on one replica to the others, `RedisLeases` (leases.py) runs the periodic jobs on one
(`AdvisoryLeases`: a PostgreSQL advisory lock when Redis is absent or down), `RedisChatPacer`
(pacing.py) keeps all replicas' outboxes within Telegram's per-chat send limits, `SloBoard`
(slo.py) gathers every replica's SLO figures for the fleet's report.
Each has a per-process twin used without Redis or while Redis fails (the in-memory lock of
bot/conversation.py, bot/ratelimit.py's `SlidingWindowLimiter`, the database check, every run):
a replica keeps answering when Redis is gone, only the guarantees shrink to its own process.
Built and wired only in bot/services.py.
"""

from __future__ import annotations

from bot.replicas.knowledge import KnowledgeSync
from bot.replicas.leases import AdvisoryLeases, JobLeases, LocalLeases, RedisLeases
from bot.replicas.limits import RedisWindowLimiter
from bot.replicas.pacing import RedisChatPacer
from bot.replicas.shared import SharedRedis, Unavailable
from bot.replicas.slo import SloBoard, replica_id
from bot.replicas.turns import LocalTurns, RedisTurnLocks, TurnLocks

__all__ = ["AdvisoryLeases", "JobLeases", "KnowledgeSync", "LocalLeases", "LocalTurns", "RedisChatPacer", "RedisLeases",
           "RedisTurnLocks", "RedisWindowLimiter", "SharedRedis", "SloBoard", "TurnLocks", "Unavailable", "replica_id"]
