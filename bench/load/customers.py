"""Simulated customers (and one staff member) talking to the bot through the fake Bot API.

Every message or button press is a `Probe`: when it was sent, when the first reply came
and when the answer was complete. What counts as a reply:

- a text, a command or bad input: the first message the bot sends to that chat after it;
- a voice note: the transcript (`🎤 …`) is the first reply, the answer after it completes
  it (a single sentence such as "I couldn't hear anything" is both);
- a button press (real or forged): the bot answering that callback query (the page is
  edited first, then the press answered);
- a message of a flood: any message to that chat after it (the polite "please wait"
  included); or, for the rest of a burst the bot deliberately ignores after its one
  "please wait" (the documented rate limit), that notice — counted as `throttled`.
  Floods are reported apart and left out of the latency figures.

A probe with no reply within the answer timeout is an error. Order status notifications
("Your order #004 was accepted") are never taken as the reply to a question.

Customers behave like people: one message at a time, waiting for the answer, then a pause.
So within one chat a reply belongs to the one message waiting for it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.load.fakes import BotEvent, LoadTelegram
from bench.load.workload import (
    FLOOD_GAP_SECONDS,
    FLOOD_MESSAGES,
    FORGED_CALLBACKS,
    LONG_MESSAGE_CHARS,
    ORDER_CONFIRM,
    WHITESPACE,
    ZERO_WIDTH,
    Question,
    Workload,
)
from testkit.fakes.telegram import SentMessage

STATUS_NOTICE = re.compile(r"\border #\d+\b.*\b(accepted|preparing|ready|completed|cancelled)\b"
                           r"|\byour order #\d+", re.IGNORECASE)
PLACED = re.compile(r"Order (#\d+) placed")
RATE_NOTICE = "faster than I can answer"
REFUSALS = (RATE_NOTICE, "still answering", "busy with other voice notes")
RATE_WINDOW_SECONDS = 30.0


@dataclass
class Probe:
    customer: int
    category: str  # chat | voice | button | bad | flood | command
    kind: str  # frequent, paraphrase, long_tail, follow_up, order_words, ..., photo, forged_callback, ...
    sent: float  # time.monotonic()
    sent_wall: float  # time.time(), to match the bot's agent_events rows
    intent: int | None = None
    first_reply_ms: float | None = None
    answer_ms: float | None = None
    reply: str = ""
    refused: bool = False
    throttled: bool = False  # a flood message ignored after the burst's one "please wait"

    @property
    def answered(self) -> bool:
        return self.first_reply_ms is not None or self.throttled

    def replied(self, event: BotEvent) -> None:
        if self.first_reply_ms is None:
            self.first_reply_ms = (event.at - self.sent) * 1000
            self.reply = event.text[:160]
            self.refused = any(r in event.text for r in REFUSALS)

    def completed(self, event: BotEvent) -> None:
        self.replied(event)
        self.answer_ms = (event.at - self.sent) * 1000


@dataclass
class Recorder:
    """Everything the customers saw, for the report."""

    probes: list[Probe] = field(default_factory=list)
    placed: dict[str, float] = field(default_factory=dict)  # order number -> when the customer was told (monotonic)
    flows: Counter[str] = field(default_factory=Counter)  # order flows: started/placed/failed:<reason>
    double_confirms: int = 0
    staff_presses: int = 0

    def probe(self, customer: int, category: str, kind: str, intent: int | None = None) -> Probe:
        probe = Probe(customer, category, kind, time.monotonic(), time.time(), intent)
        self.probes.append(probe)
        return probe


def is_reply_to_text(event: BotEvent) -> bool:
    return event.kind == "message" and not STATUS_NOTICE.search(event.text)


class FlowFailed(Exception):
    """An order flow could not go on (the reason is counted)."""


class Customer:
    def __init__(self, user_id: int, telegram: LoadTelegram, workload: Workload, recorder: Recorder,
                 voices: list[bytes], bad_voices: dict[str, bytes], answer_timeout: float,
                 first_actions: list[str] | None = None) -> None:
        self.user_id = user_id
        self.tg = telegram
        self.work = workload
        self.rec = recorder
        self.voices = voices
        self.bad_voices = bad_voices
        self.timeout = answer_timeout
        self.flooded = False
        self.last_confirm: tuple[SentMessage, str] | None = None  # a pressed Confirm button, to press again
        self.actions = 0
        self.end = 0.0
        self.script = list(first_actions or [])  # done before drawing from the mix (a smoke run covers every kind)

    @property
    def log_size(self) -> int:
        return len(self.tg.chat(self.user_id).events)

    async def run(self, end: float, max_actions: int) -> None:
        self.end = end
        while time.monotonic() < end and self.actions < max_actions:
            action = self.script.pop(0) if self.script else self.work.action()
            if action == "flood" and self.flooded:
                action = "frequent"
            await getattr(self, f"do_{action}")()
            self.actions += 1
            await self.pause(self.work.think_seconds(), end)

    @staticmethod
    async def pause(seconds: float, end: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, end - time.monotonic())))

    # --- waiting for replies -------------------------------------------------------------
    async def wait(self, probe: Probe, start: int, predicate: Callable[[BotEvent], bool]) -> BotEvent | None:
        try:
            _, event = await self.tg.next_event(self.user_id, start, predicate, probe.sent + self.timeout)
        except TimeoutError:
            return None
        probe.completed(event)
        return event

    # --- text -------------------------------------------------------------------------------
    async def ask(self, question: Question, category: str = "chat") -> Probe:
        start = self.log_size
        self.tg.send_text(self.user_id, question.text)
        probe = self.rec.probe(self.user_id, category, question.kind, question.intent)
        await self.wait(probe, start, is_reply_to_text)
        return probe

    async def ask_with_follow_up(self, question: Question) -> None:
        probe = await self.ask(question)
        follow_up = self.work.follow_up()
        if probe.answered and not probe.refused and follow_up is not None:
            await asyncio.sleep(self.work.press_seconds() * 2)
            await self.ask(follow_up)

    async def do_frequent(self) -> None:
        await self.ask_with_follow_up(self.work.frequent())

    async def do_long_tail(self) -> None:
        await self.ask_with_follow_up(self.work.long_tail())

    async def do_time_sensitive(self) -> None:
        await self.ask(self.work.time_sensitive())

    async def do_start(self) -> None:
        await self.ask(Question("/start", "start"), category="command")

    # --- voice -------------------------------------------------------------------------------
    async def send_voice(self, audio: bytes, kind: str, category: str) -> Probe:
        start = self.log_size
        self.tg.send_voice(self.user_id, audio, duration=3)
        probe = self.rec.probe(self.user_id, category, kind)
        try:
            index, first = await self.tg.next_event(self.user_id, start, is_reply_to_text,
                                                    probe.sent + self.timeout)
        except TimeoutError:
            return probe
        probe.replied(first)
        if not first.text.startswith("🎤"):
            probe.completed(first)  # busy, unreadable, nothing heard: one sentence is the whole answer
            return probe
        await self.wait(probe, index + 1, is_reply_to_text)
        return probe

    async def do_voice(self) -> None:
        await self.send_voice(self.work.rng.choice(self.voices), "voice", "voice")

    # --- buttons ------------------------------------------------------------------------------
    async def press(self, message: SentMessage | None, data: str, kind: str, category: str = "button",
                    **forged: int) -> tuple[Probe, SentMessage | None]:
        """Press a button; returns the probe and the page shown after it (edited in place, or sent anew)."""
        start = self.log_size
        query_id = self.tg.press(self.user_id, data, message, **forged)
        probe = self.rec.probe(self.user_id, category, kind)
        await self.wait(probe, start, lambda e: e.kind == "callback_answer" and e.callback_id == query_id)
        events = self.tg.chat(self.user_id).events[start:]
        # The page is the pressed message edited in place, else a message sent in answer; a status
        # notice of an earlier order (delivered by the outbox at any moment) is neither.
        if message is not None and any(e.kind == "edit" and e.message is message for e in events):
            return probe, message
        shown = [e.message for e in events if e.message is not None and not STATUS_NOTICE.search(e.text)]
        return probe, (shown[-1] if shown else message)

    async def press_button(self, message: SentMessage, label: str, kind: str) -> SentMessage:
        button = next((b for b in message.buttons() if label.lower() in b.get("text", "").lower()), None)
        if button is None:
            raise FlowFailed(f"no '{label}' button")
        probe, page = await self.press(message, button["callback_data"], kind)
        if not probe.answered or page is None:
            raise FlowFailed(f"'{label}' not answered")
        if label == "Confirm order":
            self.last_confirm = (message, button["callback_data"])
        return page

    async def do_order_buttons(self) -> None:
        self.rec.flows["buttons:started"] += 1
        start = self.log_size
        self.tg.send_text(self.user_id, "/menu")
        probe = self.rec.probe(self.user_id, "command", "menu")
        event = await self.wait(probe, start, is_reply_to_text)
        try:
            if event is None or event.message is None or not event.message.buttons():
                raise FlowFailed("no menu")
            page: SentMessage | None = event.message
            categories = [b for b in page.buttons() if "cart" not in b["text"].lower()]
            await asyncio.sleep(self.work.press_seconds())
            _, page = await self.press(page, self.work.rng.choice(categories)["callback_data"], "order_category")
            items = [b for b in page.buttons() if "·" in b["text"] and "sold out" not in b["text"]] if page else []
            if page is None or not items:
                raise FlowFailed("no item buttons")
            await asyncio.sleep(self.work.press_seconds())
            _, page = await self.press(page, self.work.rng.choice(items)["callback_data"], "order_item")
            for label, kind in (("Add", "order_add"), ("Checkout", "order_checkout"),
                                ("As soon as possible", "order_pickup"), ("Skip", "order_note")):
                if page is None:
                    raise FlowFailed(f"no page before '{label}'")
                await asyncio.sleep(self.work.press_seconds())
                page = await self.press_button(page, label, kind)
            await self.confirm(page, "buttons")
        except FlowFailed as exc:
            self.rec.flows[f"buttons:failed:{exc}"] += 1
            await self.abandon_checkout()

    async def confirm(self, summary: SentMessage, flow: str) -> None:
        await asyncio.sleep(self.work.press_seconds())
        page = await self.press_button(summary, "Confirm order", "order_confirm")
        placed = PLACED.search(page.text)
        if placed is None:
            raise FlowFailed("confirmed but not placed")
        self.rec.placed[placed.group(1)] = time.monotonic()
        self.rec.flows[f"{flow}:placed"] += 1

    async def abandon_checkout(self) -> None:
        """A customer whose order went wrong leaves the checkout, so their next text is a question again."""
        self.tg.send_text(self.user_id, "/cart")  # the cart page carries no checkout; a new one replaces it
        await asyncio.sleep(1.0)

    async def do_order_words(self) -> None:
        self.rec.flows["words:started"] += 1
        try:
            asked = await self.ask(self.work.order_words())
            if not asked.answered or "cart" not in asked.reply.lower():
                raise FlowFailed("items not added")
            await asyncio.sleep(self.work.press_seconds() * 2)
            start = self.log_size
            await self.ask(Question(ORDER_CONFIRM, "order_words"))
            try:
                _, event = await self.tg.next_event(
                    self.user_id, start,
                    lambda e: e.message is not None and any("Confirm order" in b.get("text", "")
                                                            for b in e.message.buttons()),
                    time.monotonic() + self.timeout)
            except TimeoutError:
                raise FlowFailed("no summary") from None
            assert event.message is not None
            await self.confirm(event.message, "words")
        except FlowFailed as exc:
            self.rec.flows[f"words:failed:{exc}"] += 1

    # --- bad input ------------------------------------------------------------------------------
    async def do_bad_input(self) -> None:
        kind = self.work.bad_input()
        if kind in ("whitespace", "zero_width", "long", "unknown_command"):
            text = {"whitespace": WHITESPACE, "zero_width": ZERO_WIDTH, "long": "a" * LONG_MESSAGE_CHARS,
                    "unknown_command": "/refund_everything"}[kind]
            await self.ask(Question(text, kind), category="bad")
        elif kind in ("photo", "sticker", "location", "pdf"):
            start = self.log_size
            self.tg.send_media(self.user_id, kind)
            probe = self.rec.probe(self.user_id, "bad", kind)
            await self.wait(probe, start, is_reply_to_text)
        elif kind in self.bad_voices:
            await self.send_voice(self.bad_voices[kind], kind, "bad")
        elif kind == "stale_checkout" and self.last_confirm is not None:
            message, data = self.last_confirm  # a second press of a Confirm button must not place it again
            await self.press(message, data, "stale_checkout", "bad")
            self.rec.double_confirms += 1
        else:
            data = self.work.rng.choice(FORGED_CALLBACKS)
            await self.press(None, data, "forged_callback", "bad", message_id=self.work.rng.randint(1, 10**6))

    # --- a flood ----------------------------------------------------------------------------------
    async def do_flood(self) -> None:
        """FLOOD_MESSAGES messages as fast as a thumb can: each must be followed by some reply."""
        self.flooded = True
        probes = []
        for n in range(FLOOD_MESSAGES):
            start = self.log_size
            self.tg.send_text(self.user_id, f"hello?? {n}")
            probes.append((start, self.rec.probe(self.user_id, "flood", "flood")))
            await asyncio.sleep(FLOOD_GAP_SECONDS)
        last_start, last = probes[-1]
        await self.wait(last, last_start, is_reply_to_text)
        await self.quiet(3.0, 15.0)  # the queued answers still arrive
        events = self.tg.chat(self.user_id).events
        notice = next((e for e in events[probes[0][0]:] if is_reply_to_text(e) and RATE_NOTICE in e.text), None)
        for start, probe in probes:
            event = next((e for e in events[start:] if is_reply_to_text(e)), None)
            if event is not None:
                probe.replied(event)
            elif notice is not None and notice.at <= probe.sent + 1.0:
                probe.throttled = True
        await self.pause(RATE_WINDOW_SECONDS, self.end)  # calm down until the rate limit forgets the flood

    async def quiet(self, seconds: float, limit: float) -> None:
        """Until the chat has been silent for `seconds` (at most `limit` seconds)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            events = self.tg.chat(self.user_id).events
            last = events[-1].at if events else 0.0
            if time.monotonic() - last >= seconds:
                return
            await asyncio.sleep(0.5)


class StaffMember:
    """Accepts every new order card in the staff group (the customer is then told through the outbox)."""

    def __init__(self, user_id: int, chat_id: int, telegram: LoadTelegram, recorder: Recorder) -> None:
        self.user_id = user_id
        self.chat_id = chat_id
        self.tg = telegram
        self.rec = recorder
        self.accepted: set[int] = set()
        self.cards: dict[str, SentMessage] = {}

    async def run(self, end: float) -> None:
        index = 0
        while time.monotonic() < end:
            try:
                index, event = await self.tg.next_event(self.chat_id, index, lambda e: e.kind == "message", end)
            except TimeoutError:
                return
            index += 1
            card = event.message
            number = re.search(r"Order (#\d+)", event.text)
            if card is None or number is None:
                continue
            self.cards[number.group(1)] = card
            accept = next((b for b in card.buttons() if "Accept" in b.get("text", "")), None)
            if accept is None or card.message_id in self.accepted:
                continue
            self.accepted.add(card.message_id)
            await asyncio.sleep(0.5)
            self.tg.press(self.user_id, accept["callback_data"], card)
            self.rec.staff_presses += 1
