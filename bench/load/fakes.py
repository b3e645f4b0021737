"""The test suite's fake Bot API and OpenAI servers, extended for load: answers timed per chat, faults by the clock.

`LoadTelegram` is `testkit.fakes.telegram.FakeTelegram` plus a per-chat log of everything
the bot did that counts as a reply (a message sent, a message edited, a button press
answered), stamped with the monotonic time the request reached the fake, so a simulated
customer waits on its own chat only (the fake's `wait_for` re-checks one predicate on every
request of every chat, which at 50 customers would cost more than the bot). Its faults are
windows in time: while one is open, a share of the bot's sends get 429 with `retry_after`.

`LoadModel` is a responder for `testkit.fakes.openai.FakeOpenAI`: the fake's own deterministic
menu answers after a realistic 600-1200 ms, 429/500 while a fault window is open, and the
tool calls of an order in plain words (`add_to_cart`, then `place_order`) for the phrases
the simulated customers use.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from testkit.fakes.openai import FakeReply, default_responder
from testkit.fakes.telegram import FailureRule, FakeTelegram, SentMessage

SEND_METHODS = frozenset({"sendmessage", "editmessagetext"})


@dataclass(frozen=True, slots=True)
class BotEvent:
    """One thing the bot did in a chat that a customer sees as a reply."""

    at: float  # time.monotonic() when the request reached the fake
    kind: str  # "message" | "edit" | "callback_answer"
    text: str
    message: SentMessage | None = None
    callback_id: str | None = None


class ChatLog:
    """What the bot sent to one chat, and an event to wait on for the next thing."""

    def __init__(self) -> None:
        self.events: list[BotEvent] = []
        self.changed = asyncio.Event()

    def add(self, event: BotEvent) -> None:
        self.events.append(event)
        self.changed.set()


@dataclass
class FaultWindow:
    """While open, `share` of the sends (to `chat_id`, if given) fail with `status`."""

    until: float
    share: float
    status: int = 429
    retry_after: int = 3
    chat_id: int | None = None
    methods: frozenset[str] = SEND_METHODS
    injected: int = 0


class LoadTelegram(FakeTelegram):
    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng
        self.chats: dict[int, ChatLog] = {}
        self.callback_chats: dict[str, int] = {}
        self.windows: list[FaultWindow] = []

    def chat(self, chat_id: int) -> ChatLog:
        log = self.chats.get(chat_id)
        if log is None:
            log = self.chats[chat_id] = ChatLog()
        return log

    def press(self, user_id: int, data: str, message: SentMessage | None = None, **forged: Any) -> str:
        """Press a button (or forge a press); returns the callback query id the bot must answer."""
        update = self.send_callback(user_id, data, message, **forged)
        query_id = update["callback_query"]["id"]
        self.callback_chats[query_id] = user_id
        return query_id

    async def next_event(self, chat_id: int, start: int, predicate: Any, deadline: float) -> tuple[int, BotEvent]:
        """The first event of the chat at index >= start that satisfies predicate (index, event).

        Raises TimeoutError at the deadline (time.monotonic()).
        """
        log = self.chat(chat_id)
        index = start
        while True:
            while index < len(log.events):
                event = log.events[index]
                index += 1
                if predicate(event):
                    return index - 1, event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            log.changed.clear()
            try:
                await asyncio.wait_for(log.changed.wait(), remaining)
            except TimeoutError:
                pass

    def trim(self) -> None:
        """Forget request bodies (the customers keep what they need): bounded memory over long runs."""
        self.requests.clear()
        self.request_times.clear()
        self.chat_actions.clear()

    # --- faults by the clock ------------------------------------------------------------
    def open_window(self, seconds: float, share: float, *, status: int = 429, retry_after: int = 3,
                    chat_id: int | None = None) -> FaultWindow:
        window = FaultWindow(time.monotonic() + seconds, share, status, retry_after, chat_id)
        self.windows.append(window)
        return window

    def windows_open(self) -> bool:
        now = time.monotonic()
        return any(now < w.until for w in self.windows)

    def _take_failure(self, method: str, params: dict[str, Any]) -> FailureRule | None:
        rule = super()._take_failure(method, params)
        if rule is not None:
            return rule
        now = time.monotonic()
        for window in self.windows:
            if (now < window.until and method.lower() in window.methods
                    and (window.chat_id is None or params.get("chat_id") == window.chat_id)
                    and self.rng.random() < window.share):
                window.injected += 1
                return FailureRule(method, window.status, f"Too Many Requests: retry after {window.retry_after}",
                                   window.retry_after, 1, window.chat_id)
        return None

    # --- what counts as a reply --------------------------------------------------------------
    async def _m_sendmessage(self, p: dict[str, Any]) -> Any:
        result = await super()._m_sendmessage(p)
        message = self.messages[-1]
        self.chat(message.chat_id).add(BotEvent(time.monotonic(), "message", message.text, message))
        return result

    async def _m_editmessagetext(self, p: dict[str, Any]) -> Any:
        result = await super()._m_editmessagetext(p)
        message = self._find(p)
        self.chat(message.chat_id).add(BotEvent(time.monotonic(), "edit", message.text, message))
        return result

    async def _m_answercallbackquery(self, p: dict[str, Any]) -> Any:
        result = await super()._m_answercallbackquery(p)
        query_id = str(p.get("callback_query_id"))
        chat_id = self.callback_chats.get(query_id)
        if chat_id is not None:
            self.chat(chat_id).add(BotEvent(time.monotonic(), "callback_answer", str(p.get("text") or ""),
                                            callback_id=query_id))
        return result


# --- the model --------------------------------------------------------------------------------
ORDER_REQUEST = re.compile(r"^i'd like to order (\d+) (.+?)(?: please)?[.!]?$", re.IGNORECASE)
ORDER_CONFIRM = re.compile(r"^that's all", re.IGNORECASE)


@dataclass
class ModelFault:
    until: float
    statuses: tuple[int, ...] = (429, 500)
    retry_after: float = 1.0
    served: int = 0


@dataclass
class LoadModel:
    """A responder for FakeOpenAI: realistic latency, fault windows, order tool calls."""

    rng: random.Random
    latency: tuple[float, float] = (0.6, 1.2)
    fault: ModelFault | None = None
    completions: int = 0
    failures: int = 0
    tool_rounds: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def open_fault(self, seconds: float, statuses: tuple[int, ...] = (429, 500), retry_after: float = 1.0) -> None:
        self.fault = ModelFault(time.monotonic() + seconds, statuses, retry_after)

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        delay = self.rng.uniform(*self.latency)
        if self.fault is not None and time.monotonic() < self.fault.until:
            status = self.fault.statuses[self.fault.served % len(self.fault.statuses)]
            self.fault.served += 1
            self.failures += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            # a failing server answers fast; the client's retries and breaker are what is measured
            return FakeReply(status=status, retry_after=self.fault.retry_after if status == 429 else None,
                             delay=self.rng.uniform(0.05, 0.2))
        self.completions += 1
        reply = self._order_step(body.get("messages", []), bool(body.get("tools"))) or default_responder(body)
        reply.delay = delay
        return reply

    def _order_step(self, messages: list[dict[str, Any]], tools: bool) -> FakeReply | None:
        """The tool calls of an order in plain words; None for anything else."""
        if not messages or not tools:
            return None
        last = messages[-1]
        if last.get("role") == "tool":
            name = _tool_name(messages, str(last.get("tool_call_id")))
            result = _json(last.get("content"))
            if "error" in result:
                return FakeReply(content=f"Sorry: {result['error']}")
            if name == "add_to_cart":
                return FakeReply(content="Added to your cart. Anything else, or shall I place the order?")
            if name == "place_order":
                return FakeReply(content="I've sent you the summary. Please check it and press Confirm order.")
            return None
        if last.get("role") != "user":
            return None
        text = str(last.get("content") or "").strip()
        if match := ORDER_REQUEST.match(text):
            self.tool_rounds += 1
            return FakeReply(tool_calls=[{"name": "add_to_cart", "arguments": {
                "item": match.group(2), "quantity": int(match.group(1))}}])
        if ORDER_CONFIRM.match(text):
            self.tool_rounds += 1
            return FakeReply(tool_calls=[{"name": "place_order", "arguments": {"pickup_time": "asap"}}])
        return None


def _tool_name(messages: list[dict[str, Any]], call_id: str) -> str:
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                return str(call["function"]["name"])
    return ""


def _json(content: Any) -> dict[str, Any]:
    try:
        value = json.loads(content) if isinstance(content, str) else content
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
