"""Operations: the 5-minute turn window, SLO evaluation, data retention, and their exporters.

The live numbers live in `bot.metrics.Metrics` (one per application); this package holds
what turns them into answers for operators: `GET /api/slo`, `GET /api/agent/chat`'s status,
`python main.py slo` and `python main.py purge`.
"""
