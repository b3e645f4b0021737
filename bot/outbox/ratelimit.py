"""Telegram's per-chat send limits, kept on our side so the worker rarely sees a 429.

Groups allow about 20 messages a minute, private chats about one a second (short
bursts pass), the whole bot about 30 a second. A sliding window per chat says how
long to wait; a 429 pauses the chat for the time Telegram asked for.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

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
            window = self._chats[chat_id] = _Window(*(self._group if chat_id < 0 else self._private))
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
