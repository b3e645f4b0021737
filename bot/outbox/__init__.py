"""Durable Telegram notifications: written to the database first, delivered by a worker."""

from bot.outbox.service import MESSAGE, DeliveryResult, Outbox, Outgoing, Renderer
from storage.outbox import NORMAL, URGENT, OutboxRow, OutboxStats

__all__ = [
    "MESSAGE", "NORMAL", "URGENT", "DeliveryResult", "Outbox", "OutboxRow", "OutboxStats", "Outgoing", "Renderer",
]
