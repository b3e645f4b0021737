"""The "typing…" / "recording…" indicator, cosmetic by contract.

A failing sendChatAction ends the indicator quietly (a debug line) and the answer goes on as usual: a
failing indicator must never look like a failing bot (aiogram's `ChatActionSender` let its task end with
the exception, which asyncio reports at ERROR level as "Task exception was never retrieved").

Our own, not a subclass of aiogram's: that one starts a task, two events, a lock and an `asyncio.wait_for`
(one more task) for every block, even when the block ends before the first action is due, which is every
cached answer (handlers/chat.py shows "typing…" only after 0.3 s). Here the first action is a timer
(`call_later`): an answer that is ready before it costs one timer and its cancellation (bench/rush.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

from aiogram import Bot
from aiogram.enums import ChatAction

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0  # Telegram shows an action for about 5 s


class QuietChatActionSender:
    """Repeats sendChatAction every `interval` while the block runs, the first after `initial_sleep`."""

    def __init__(self, *, bot: Bot, chat_id: int | str, message_thread_id: int | None = None,
                 action: str = ChatAction.TYPING, interval: float = DEFAULT_INTERVAL,
                 initial_sleep: float = 0.0) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.message_thread_id = message_thread_id
        self.action = action
        self.interval = interval
        self.initial_sleep = initial_sleep
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending = False
        self._closing = False

    @classmethod
    def typing(cls, *, bot: Bot, chat_id: int | str, message_thread_id: int | None = None,
               interval: float = DEFAULT_INTERVAL, initial_sleep: float = 0.0) -> QuietChatActionSender:
        return cls(bot=bot, chat_id=chat_id, message_thread_id=message_thread_id, action=ChatAction.TYPING,
                   interval=interval, initial_sleep=initial_sleep)

    async def __aenter__(self) -> QuietChatActionSender:
        if self.initial_sleep > 0:
            self._timer = asyncio.get_running_loop().call_later(self.initial_sleep, self._start)
        else:
            self._start()
        return self

    async def __aexit__(self, _exc_type: type[BaseException] | None, _exc: BaseException | None,
                        _traceback: TracebackType | None) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        task = self._task
        if task is None:
            return
        # A sendChatAction under way is let finish (cancelling it would close its connection, and the answer's
        # sendMessage would open a new one); a worker waiting for its next action is cancelled.
        if not self._sending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _start(self) -> None:
        self._timer = None
        if not self._closing:
            self._task = asyncio.create_task(self._worker(), name=f"chat-action-{self.chat_id}")

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                started = loop.time()
                self._sending = True
                try:
                    await self.bot.send_chat_action(chat_id=self.chat_id, action=self.action,
                                                    message_thread_id=self.message_thread_id)
                finally:
                    self._sending = False
                if self._closing:
                    return
                await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))
        except Exception as exc:
            log.debug("sendChatAction %s to chat %s failed; indicator stopped: %s", self.action, self.chat_id,
                      type(exc).__name__)
