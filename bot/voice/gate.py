"""A per-user gate in front of transcription.

Listening is the most expensive thing a customer can ask for: a Whisper worker for
up to seconds per note, from a small pool that every customer shares. The per-user
message limit (bot/telegram/middlewares.py) counts a note like one text, so within it one user
sending a burst of notes would still fill the shared queue and everyone else would hear
"busy". The gate answers before anything is downloaded: at most
`MAX_PENDING_PER_USER` notes of one user at a time (a second note to add something is
normal, a third waits) and at most VOICE_RATE_LIMIT_NOTES per
VOICE_RATE_LIMIT_WINDOW_SECONDS (shared by the replicas through Redis when the composition
root hands in a shared `limiter`; the pending count stays per process: it guards this
process's own listeners). `VoiceGateMiddleware` (bot/telegram/middlewares.py) puts the gate
in front of the voice router.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from bot.config import Settings
from bot.i18n import N_, _
from bot.ratelimit import RateLimiter, SlidingWindowLimiter

MAX_PENDING_PER_USER = 2  # being transcribed or waiting for a worker

STILL_LISTENING = N_("I'm still listening to your earlier voice notes — please wait for my answer before "
                   "sending more.")
TOO_MANY = N_("That's a lot of voice notes 🙂 Please wait {wait} seconds, or type your question.")


class VoiceGate:
    def __init__(self, settings: Settings, clock: Callable[[], float] | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or SlidingWindowLimiter(settings.voice_rate_limit_notes,
                                                       settings.voice_rate_limit_window_seconds, clock=clock)
        self._pending: Counter[int] = Counter()
        self.refused: Counter[str] = Counter()  # reason -> notes turned away (for /metrics)

    async def admit(self, user_id: int) -> tuple[bool, str | None]:
        """(admitted, what to say instead). A refusal in a burst is answered once, then silently."""
        if self._pending[user_id] >= MAX_PENDING_PER_USER:
            self.refused["pending"] += 1
            return False, _(STILL_LISTENING)
        self._pending[user_id] += 1  # held across the (maybe Redis) decision, so a burst cannot slip past
        decision = await self.limiter.decide(user_id)
        if not decision.allowed:
            self.release(user_id)
            self.refused["rate"] += 1
            return False, _(TOO_MANY).format(wait=max(1, math.ceil(decision.retry_after))) if decision.first_refusal \
                else None
        return True, None

    def release(self, user_id: int) -> None:
        self._pending[user_id] -= 1
        if self._pending[user_id] <= 0:
            del self._pending[user_id]

    @property
    def pending(self) -> int:
        return sum(self._pending.values())

