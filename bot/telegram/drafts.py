"""A model answer shown while it is written: Telegram's `sendMessageDraft` in private chats.

The agent calls `DraftStream` (its `on_text`) with the answer so far as the model streams it;
the stream sends a draft at most every DRAFT_INTERVAL_SECONDS and only when DRAFT_MIN_NEW_CHARS
more characters arrived (the first words go out at once), in the background so that the model's
stream is never held up by a Telegram round trip. The draft is ephemeral: the handler then
sends the complete answer with `send_text` (escaped, split), which persists it and replaces
the draft. A draft call that fails ends the drafts of this answer quietly; the final message
is sent as always. Drafts exist only in private chats (`can_draft`).

The customer's stop button (`can_stop`): Telegram sends a `stopped_message_generation`
update; `DraftStreams.stop` marks that answer's stream stopped and its next `on_text` raises
`StopGeneration`, which ends the model's stream (the agent keeps the words written so far).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import Chat

from bot.agent.llm import StopGeneration
from bot.conversation import render_html
from bot.tasks import cancel_and_wait
from bot.text import split_message

log = logging.getLogger(__name__)

DRAFT_INTERVAL_SECONDS = 0.4  # at most one draft this often per answer (Telegram's per-chat pace is ~1/s)
DRAFT_MIN_NEW_CHARS = 24  # and only when this much more text arrived (the first words go out at once)
DRAFT_MAX_CHARS = 4000  # a draft shows the last part of a long answer, like the last message of its split
DRAFT_CLOSE_WAIT_SECONDS = 1.0  # a draft still in flight when the answer is done: waited for this long


def can_draft(chat: Chat) -> bool:
    """Telegram shows drafts in private chats only; groups get the final message alone."""
    return chat.type == ChatType.PRIVATE


class DraftStream:
    """One answer's drafts: call it with the text so far; `close()` before sending the final message."""

    def __init__(self, bot: Bot, chat_id: int, draft_id: int, *, message_thread_id: int | None = None,
                 interval: float = DRAFT_INTERVAL_SECONDS, min_new_chars: int = DRAFT_MIN_NEW_CHARS) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.draft_id = draft_id
        self.message_thread_id = message_thread_id
        self.interval = interval
        self.min_new_chars = min_new_chars
        self.sent = 0  # drafts Telegram accepted
        self.failed = False  # a draft call failed: no more drafts for this answer
        self.stopped = False  # the customer pressed stop
        self._shown_chars = 0
        self._last_sent = 0.0
        self._inflight: asyncio.Task[None] | None = None

    async def __call__(self, text: str) -> None:
        if self.stopped:
            raise StopGeneration("the customer stopped the answer")
        if self.failed or (self._inflight is not None and not self._inflight.done()):
            return
        now = time.monotonic()
        first = self._shown_chars == 0
        if not first and (now - self._last_sent < self.interval or len(text) - self._shown_chars < self.min_new_chars):
            return
        self._last_sent, self._shown_chars = now, len(text)
        self._inflight = asyncio.create_task(self._send(text))

    async def _send(self, text: str) -> None:
        part = split_message(text, DRAFT_MAX_CHARS)[-1] if len(text) > DRAFT_MAX_CHARS else text
        try:
            await self.bot.send_message_draft(chat_id=self.chat_id, draft_id=self.draft_id,
                                              message_thread_id=self.message_thread_id, text=render_html(part),
                                              can_stop=True)
        except (TelegramAPIError, TelegramNetworkError, TimeoutError) as exc:
            self.failed = True
            log.warning("sendMessageDraft failed (%s): this answer is sent whole", exc)
        else:
            self.sent += 1

    async def close(self) -> None:
        """Let a draft in flight land before the final message (else a stale draft could follow it)."""
        task = self._inflight
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), DRAFT_CLOSE_WAIT_SECONDS)
        except TimeoutError:
            await cancel_and_wait(task)


class DraftStreams:
    """The answers being drafted now, so that a customer's stop button finds its answer."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled  # TELEGRAM_DRAFTS: off sends every answer whole, as before drafts existed
        self._ids = itertools.count(int(time.time() * 1000) % 1_000_000_000 + 1)  # non-zero, fresh after a restart
        self._active: dict[tuple[int, int], DraftStream] = {}

    def allowed(self, chat: Chat) -> bool:
        return self.enabled and can_draft(chat)

    @contextlib.asynccontextmanager
    async def open(self, bot: Bot, chat_id: int, message_thread_id: int | None = None) -> AsyncIterator[DraftStream]:
        stream = DraftStream(bot, chat_id, next(self._ids), message_thread_id=message_thread_id)
        key = (chat_id, stream.draft_id)
        self._active[key] = stream
        try:
            yield stream
        finally:
            self._active.pop(key, None)
            await stream.close()

    def stop(self, chat_id: int, draft_id: int) -> bool:
        """The customer pressed stop on this draft: its answer ends at the next words. False if long done."""
        stream = self._active.get((chat_id, draft_id))
        if stream is None:
            return False
        stream.stopped = True
        return True
