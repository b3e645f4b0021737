"""Durable Telegram notifications: written to the database first, delivered by a worker."""

from bot.outbox.errors import DeliveryError, Outcome, Verdict
from bot.outbox.service import MESSAGE, DeliveryResult, Outbox, Outgoing, Renderer, Sender
from storage.outbox import NORMAL, URGENT, OutboxRow, OutboxStats

__all__ = [
    "MESSAGE", "NORMAL", "URGENT", "DeliveryError", "DeliveryResult", "Outbox", "OutboxRow", "OutboxStats",
    "Outcome", "Outgoing", "Renderer", "Sender", "Verdict",
]
