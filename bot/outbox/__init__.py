"""Durable Telegram notifications: written to the database first, delivered by a worker."""

from bot.outbox.service import MESSAGE, DeliveryResult, Outbox, Outgoing, Renderer
from storage.outbox import OutboxRow, OutboxStats

__all__ = ["MESSAGE", "DeliveryResult", "Outbox", "OutboxRow", "OutboxStats", "Outgoing", "Renderer"]
