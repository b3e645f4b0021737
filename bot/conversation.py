"""A customer's chat with the agent: the guards around `Agent.answer`, without Telegram.

Text and transcribed voice notes are admitted before they reach the agent: a maximum input
length (`refusal`) and one answer in flight per user, with one more message waiting its turn
and a short notice (`turn`). The Telegram side applies them: text through
`TextAdmissionMiddleware` on the chat router, a voice note's transcript through the same
`admitted()` once it is heard (bot/telegram/middlewares.py); the handlers then show "typing…"
while `answer` runs and send the reply (bot/telegram/replies.py). The per-user rate limit is
not here: it runs for every update before any handler (`RateLimitMiddleware`).

Several replicas behind one webhook: the turn also holds the customer's lock in Redis
(`turns`, bot/replicas/turns.py), so a message that reached another replica waits for this
one's answer; without Redis, or while it fails, the in-process lock alone serialises.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bot.agent import Agent
from bot.agent.llm import TextObserver
from bot.config import Settings
from bot.i18n import N_, _
from bot.replicas.turns import LocalTurns, TurnLocks
from bot.text import escape

MAX_QUEUED_PER_USER = 1  # messages waiting behind the one being answered

EMPTY = N_("Please send me your question as text or a voice note.")
TOO_LONG = N_("That message is a bit long for me ({length} characters). Please keep questions under {limit} "
            "characters.")
QUEUE_FULL = N_("I'm still answering your earlier messages — please wait for my reply before sending more.")
WAIT_YOUR_TURN = N_("One moment — I'm still answering your previous message; this one is next.")

Say = Callable[[str], Awaitable[None]]  # tells the customer something (a notice while they wait)


@dataclass
class _UserSlot:
    lock: asyncio.Lock
    waiting: int = 0


class Conversation:
    def __init__(self, agent: Agent, settings: Settings, turns: TurnLocks | None = None) -> None:
        self.agent = agent
        self.settings = settings
        self.turns = turns or LocalTurns()
        self._slots: dict[int, _UserSlot] = {}

    def refusal(self, text: str) -> str | None:
        """What to say instead of answering `text` (nothing in it, or too long), or None to answer it."""
        text = text.strip()
        if not text:
            return _(EMPTY)
        if len(text) > self.settings.max_input_chars:
            return _(TOO_LONG).format(length=len(text), limit=self.settings.max_input_chars)
        return None

    @contextlib.asynccontextmanager
    async def turn(self, user_id: int, say: Say) -> AsyncIterator[bool]:
        """The user's turn: one answer in flight, MAX_QUEUED_PER_USER more waiting (told so by `say`).

        Yields True inside the turn, or False at once when the queue is full (the user was told).
        """
        slot = self._slots.setdefault(user_id, _UserSlot(asyncio.Lock()))
        if slot.lock.locked():
            if slot.waiting >= MAX_QUEUED_PER_USER:
                await say(_(QUEUE_FULL))
                yield False
                return
            await say(_(WAIT_YOUR_TURN))
            told = True
        else:
            told = False

        async def other_replica() -> None:  # the customer's previous message is being answered elsewhere
            if not told:
                await say(_(WAIT_YOUR_TURN))

        slot.waiting += 1
        try:
            async with slot.lock:
                slot.waiting -= 1
                async with self.turns.hold(user_id, other_replica):
                    yield True
        finally:
            if not slot.lock.locked() and slot.waiting <= 0:
                self._slots.pop(user_id, None)

    async def answer(self, user_id: int, text: str, kind: str = "text", *,
                     on_text: TextObserver | None = None) -> str:
        """The agent's answer to `text` (a message's text or a voice note's transcript), as plain text.

        `on_text` sees a model answer grow while it is written (`Agent.answer`)."""
        reply = await self.agent.answer(user_id, text.strip(), kind, on_text=on_text)
        return reply.answer


_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_BULLET = re.compile(r"^[ \t]*[-*][ \t]+", re.MULTILINE)


def render_html(text: str) -> str:
    """Plain model text to Telegram HTML: everything escaped, then **bold** and list bullets made readable.

    Only tags this function writes itself reach Telegram, so an answer quoting `<b>`,
    `&` or `<script>` shows them literally and never fails to parse.
    """
    html = escape(text)
    html = _BULLET.sub("• ", html)
    return _BOLD.sub(r"<b>\1</b>", html)
