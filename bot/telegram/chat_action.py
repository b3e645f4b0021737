"""The "typing…" / "recording…" indicator, cosmetic by contract.

aiogram's `ChatActionSender` repeats sendChatAction while a block runs; if one call fails its
background task ends with the exception, which asyncio then reports at ERROR level as "Task
exception was never retrieved". A failing indicator must never look like a failing bot: this
subclass ends the indicator quietly (a debug line) and the answer goes on as usual.
"""

from __future__ import annotations

import logging

from aiogram.utils.chat_action import ChatActionSender

log = logging.getLogger(__name__)


class QuietChatActionSender(ChatActionSender):
    async def _worker(self) -> None:
        try:
            await super()._worker()
        except Exception as exc:
            log.debug("sendChatAction %s to chat %s failed; indicator stopped: %s", self.action, self.chat_id,
                      type(exc).__name__)
