"""Telegram's per-chat send limits, kept on our side so the worker rarely sees a 429.

Groups allow about 20 messages a minute, private chats about one a second (short
bursts pass), the whole bot about 30 a second. A sliding window per chat says how
long to wait; a 429 pauses the chat for the time Telegram asked for.

The outbox asks through `ChatPacing`: `ChatRateLimiter` here counts this process's sends;
bot/replicas/pacing.py counts every replica's in Redis (the limits are the bot's, not a
process's), falling back to this one while Redis fails.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

GROUP_LIMIT = (20, 60.0)  # messages, window seconds
PRIVATE_LIMIT = (3, 3.0)
GLOBAL_LIMIT = (30, 1.0)


class _Window:
    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self.sent: deque[float] = deque()

    def wait(self, at: float) -> float:
        while self.sent and at - self.sent[0] >= self.seconds:
            self.sent.popleft()
        if len(self.sent) < self.count:
            return 0.0
        return self.sent[0] + self.seconds - at


def limits_of(chat_id: int, group: tuple[int, float] = GROUP_LIMIT,
              private: tuple[int, float] = PRIVATE_LIMIT) -> tuple[int, float]:
    """(messages, window seconds) for a chat: groups have negative ids."""
    return group if chat_id < 0 else private


class ChatPacing(Protocol):
    """When may the next message to a chat go out, for the outbox worker."""

    async def peek(self, chat_id: int) -> float:
        """Seconds until a send to `chat_id` would be allowed (0: now); takes nothing."""
        ...

    async def take(self, chat_id: int) -> float:
        """0 if a send to `chat_id` may go now (and it is counted); else the seconds to wait (nothing counted)."""
        ...

    async def hold(self, chat_id: int, seconds: float) -> None:
        """Telegram answered 429 retry_after: nothing more to this chat for `seconds`."""
        ...


class ChatRateLimiter:
    def __init__(
        self, group: tuple[int, float] = GROUP_LIMIT, private: tuple[int, float] = PRIVATE_LIMIT,
        overall: tuple[int, float] = GLOBAL_LIMIT, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._group, self._private = group, private
        self._overall = _Window(*overall)
        self._chats: dict[int, _Window] = {}
        self._paused_until: dict[int, float] = {}
        self._clock = clock

    def _window(self, chat_id: int) -> _Window:
        window = self._chats.get(chat_id)
        if window is None:
            window = self._chats[chat_id] = _Window(*limits_of(chat_id, self._group, self._private))
        return window

    def delay(self, chat_id: int) -> float:
        """Seconds until a message to `chat_id` may go out (0: now)."""
        at = self._clock()
        paused = max(0.0, self._paused_until.get(chat_id, 0.0) - at)
        return max(paused, self._window(chat_id).wait(at), self._overall.wait(at))

    def record(self, chat_id: int) -> None:
        at = self._clock()
        self._window(chat_id).sent.append(at)
        self._overall.sent.append(at)

    def pause(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429 retry_after: nothing more to this chat until then."""
        until = self._clock() + seconds
        self._paused_until[chat_id] = max(self._paused_until.get(chat_id, 0.0), until)

    # --- ChatPacing: this process's sends only ---------------------------------------------
    async def peek(self, chat_id: int) -> float:
        return self.delay(chat_id)

    async def take(self, chat_id: int) -> float:
        wait = self.delay(chat_id)
        if wait <= 0:
            self.record(chat_id)
        return wait

    async def hold(self, chat_id: int, seconds: float) -> None:
        self.pause(chat_id, seconds)
