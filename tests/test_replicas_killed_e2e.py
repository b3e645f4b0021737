"""Three replicas of the bot behind a round-robin proxy, one of them killed mid-run (issue 19's "done when").

Three `python main.py` processes in webhook mode on one PostgreSQL schema and one Redis, behind
testkit/proxy.py, which the fake Bot API delivers to on eight connections at once, as Telegram does
(an update is delivered again until a replica answers 200). Customers ask questions (two at once
each, so their second message reaches another replica while the first is answered), order in words
(the model's tool calls, through the fake OpenAI) and by buttons; staff accept each order from the
card in the group. While a replica is answering a customer's question it is killed with SIGKILL; the
proxy then skips it (connection refused) and Telegram's redelivery hands the cut update to another.

What must hold: every message answered, every order in the database once, every staff card sent
once, and no customer's two messages answered at the same time. The last is observed at the model:
each replica has an API key of its own, so the fake OpenAI's spans say which replica asked what and
when; a turn is one replica's requests for one customer message (a tool round is two requests), and
one customer's turns must never overlap in time.

PostgreSQL only (several processes on one SQLite file is not a supported set-up): skipped without
TEST_DATABASE_URL; `.ci/run` runs it in its PostgreSQL pass.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from storage.db import Database
from testkit import ROOT, database
from testkit.fakes.openai import FakeOpenAI, FakeReply, Span
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER, always_open_cafe
from testkit.proxy import RoundRobinProxy
from testkit.servers import RedisServer, free_port
from testkit.settings import ADMIN_TOKEN, TEST_TOKEN, database_env, subprocess_env
from tests.ordering import press

pytestmark = pytest.mark.skipif(not os.environ.get(database.TEST_DATABASE_URL),
                                reason="three replicas need PostgreSQL: set TEST_DATABASE_URL")

REPLICAS = 3
SECRET = "replica-webhook-secret_1"
QUESTION_SECONDS = 0.8  # how long the model takes over a question: the window the kill aims at
MARKER = re.compile(r"\[m\d+\]")
QUESTIONERS = (2101, 2102)
WORDS = (2201, 2202)
BUTTONS = (2301, 2302)
EVERYONE = QUESTIONERS + WORDS + BUTTONS


def responder(body: dict[str, Any]) -> FakeReply:
    """The model: tool calls for orders in words, a slow answer naming the question's marker otherwise."""
    messages = body["messages"]
    asked = next(str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user")
    marker = MARKER.search(asked)
    said = marker.group(0) if marker else "?"
    if messages[-1].get("role") == "tool":
        return FakeReply(content=f"Done {said}. Anything else?")
    if "flat whites" in asked:
        return FakeReply(tool_calls=[{"name": "add_to_cart", "arguments": {"item": "flat-white", "quantity": 2}}])
    if "pick it up" in asked:
        return FakeReply(tool_calls=[{"name": "place_order", "arguments": {"pickup_time": "asap", "note": ""}}])
    return FakeReply(content=f"Answer to {said}", delay=QUESTION_SECONDS)


@dataclass
class Replica:
    name: str
    port: int
    key: str  # its OpenAI API key: the fake's spans name the replica by it
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Run:
    telegram: FakeTelegram
    openai: FakeOpenAI
    proxy: RoundRobinProxy
    replicas: list[Replica]
    markers: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # customer -> markers sent
    counter: int = 0
    started: float = field(default_factory=time.monotonic)
    killed: list[tuple[float, str, str]] = field(default_factory=list)  # (time.monotonic(), replica, its message)

    def say(self, user_id: int, text: str) -> str:
        """Send a customer's message carrying a fresh marker; the marker."""
        self.counter += 1
        marker = f"[m{self.counter}]"
        self.markers[user_id].append(marker)
        self.telegram.send_text(user_id, f"{marker} {text}")
        return marker

    async def answered(self, user_id: int, marker: str, timeout: float = 40) -> SentMessage:
        return await self.telegram.wait_for(lambda: next(
            (m for m in self.telegram.sent_to(user_id) if marker in m.text), None), timeout)

    async def latest(self, chat_id: int, contains: str, timeout: float = 40) -> SentMessage:
        return await self.telegram.wait_for(lambda: next(
            (m for m in reversed(self.telegram.sent_to(chat_id)) if contains.lower() in m.text.lower()), None),
            timeout)

    async def until(self, message: SentMessage, contains: str, timeout: float = 40) -> None:
        await self.telegram.wait_for(lambda: contains.lower() in message.text.lower(), timeout)

    async def press(self, user_id: int, message: SentMessage, button: str) -> None:
        await asyncio.wait_for(press(self.telegram, user_id, message, button), 40)


@asynccontextmanager
async def three_replicas(tmp_path: Path, redis: RedisServer) -> AsyncIterator[Run]:
    async with AsyncExitStack() as stack:
        telegram = await stack.enter_async_context(
            FakeTelegram(deliver_webhook=True, webhook_connections=8, webhook_timeout=30))
        openai = await stack.enter_async_context(FakeOpenAI())
        openai.responder = responder
        replicas = [Replica(f"r{n}", free_port(), f"sk-replica-{n}", tmp_path / f"r{n}.log") for n in range(REPLICAS)]
        proxy = await stack.enter_async_context(RoundRobinProxy([r.url for r in replicas]))
        cafe = always_open_cafe(tmp_path)
        for replica in replicas:
            openai.accept_key(replica.key)
            env = subprocess_env(
                TELEGRAM_BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=telegram.url, BOT_MODE="webhook",
                WEBHOOK_BASE_URL=proxy.url, WEBHOOK_SECRET=SECRET, OPENAI_BASE_URL=openai.url,
                OPENAI_API_KEY=replica.key, REDIS_URL=redis.url, ADMIN_API_TOKEN=ADMIN_TOKEN,
                HTTP_HOST="127.0.0.1", HTTP_PORT=str(replica.port), STAFF_CHAT_ID=str(STAFF_CHAT),
                CAFE_PATH=str(cafe), REPLICA_NAME=replica.name, LOG_LEVEL="INFO",
                REDIS_TIMEOUT_SECONDS="2",  # three processes starting on two busy cores: no false outages
                **database_env(tmp_path))
            launch(replica, env, tmp_path)
        stack.push_async_callback(stop_all, replicas)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            await asyncio.gather(*(ready(http, r) for r in replicas))
        run = Run(telegram, openai, proxy, replicas)
        try:
            yield run
        except BaseException:
            print(diagnosis(run))
            raise


def diagnosis(run: Run) -> str:
    """What happened, for a failure: the deliveries, the model's calls by replica, the kill, the replicas' logs."""
    t0 = run.started
    lines = [
        f"pending updates {[u['update_id'] for u in run.telegram.pending_updates()]}; webhook failures "
        f"{run.telegram.webhook_failures}; proxy forwarded {dict(run.proxy.forwarded)} refused "
        f"{dict(run.proxy.refused)} cut {dict(run.proxy.cut)}; killed {run.killed}",
        f"delivered (s, update) {[(round(t - t0, 2), u) for t, u in run.telegram.webhook_deliveries]}",
        "model calls (replica key, message, start s, end s) " + str([
            (s.key, str(s.body["messages"][-1].get("content"))[:12], round(s.start - t0, 2),
             s.end and round(s.end - t0, 2)) for s in run.openai.spans]),
    ]
    for replica in run.replicas:
        lines.append(f"--- {replica.name} ---\n" + replica.log.read_text(errors="replace")[-6000:])
    return "\n".join(lines)


async def ready(http: aiohttp.ClientSession, replica: Replica, timeout: float = 90) -> None:
    """Until the replica's /readyz says 200 (its webhook set, its database and Redis answering)."""
    deadline = time.monotonic() + timeout
    while True:
        assert replica.proc is not None and replica.proc.poll() is None, replica.log.read_text()[-3000:]
        try:
            async with http.get(replica.url + "/readyz") as response:
                if response.status == 200:
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        assert time.monotonic() < deadline, f"{replica.name} not ready: {replica.log.read_text()[-3000:]}"
        await asyncio.sleep(0.2)  # polling a child process's readiness with a deadline


def launch(replica: Replica, env: dict[str, str], cwd: Path) -> None:
    """`python main.py` with its output in the replica's log file (shown if the test fails)."""
    with replica.log.open("wb") as out:
        replica.proc = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=cwd, env=env, stdout=out,
                                        stderr=subprocess.STDOUT)


async def stop_all(replicas: list[Replica]) -> None:
    """SIGTERM to every replica still running, then wait (the fakes keep answering meanwhile); SIGKILL at 30 s."""
    running = [r.proc for r in replicas if r.proc is not None and r.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(proc.poll() is None for proc in running) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # polling child processes' exit with a deadline
    for proc in running:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the customers and the staff ------------------------------------------------------------------------------
async def questions(run: Run, user_id: int) -> None:
    """Two questions at once, twice: the second reaches another replica while the first is answered."""
    for first, second in (("What teas do you have?", "And do you have cakes?"),
                          ("Is there Wi-Fi?", "Where are you?")):
        markers = [run.say(user_id, first), run.say(user_id, second)]
        for marker in markers:
            await run.answered(user_id, marker)


async def order_in_words(run: Run, user_id: int) -> None:
    markers = [run.say(user_id, "Do you have oat milk?"), run.say(user_id, "Two flat whites please")]
    for marker in markers:
        await run.answered(user_id, marker)
    await run.answered(user_id, run.say(user_id, "That's all, I'll pick it up asap"))
    summary = await run.latest(user_id, "Please check your order")
    await run.press(user_id, summary, "Confirm order")
    await run.until(summary, "placed")


async def order_by_buttons(run: Run, user_id: int) -> None:
    await run.answered(user_id, run.say(user_id, "Do you have croissants?"))
    run.telegram.send_text(user_id, "/menu")
    page = await run.latest(user_id, "Pick a category")
    await run.press(user_id, page, "Coffee")
    await run.until(page, "Cappuccino —")
    await run.press(user_id, page, "Cappuccino")
    await run.until(page, "Allergens: milk")
    await run.press(user_id, page, "large")
    await run.until(page, "1 × Cappuccino (large)")  # each button carries the page's state: wait for the redraw
    await run.press(user_id, page, "Add 1 to cart")
    await run.until(page, "Added 1 × Cappuccino (large)")
    await run.press(user_id, page, "View cart")
    await run.until(page, "Total:")
    await run.press(user_id, page, "Checkout")
    await run.until(page, "When will you pick it up")
    await run.press(user_id, page, "As soon as possible")
    await run.until(page, "Anything we should know")
    run.telegram.send_text(user_id, "No note")
    summary = await run.latest(user_id, "Please check your order")
    await run.press(user_id, summary, "Confirm order")
    await run.until(summary, "placed")


async def staff_accepts(run: Run, orders: int) -> None:
    """The kitchen accepts every new order as its card arrives."""
    accepted: set[int] = set()
    while len(accepted) < orders:
        card = await run.telegram.wait_for(lambda: next(
            (m for m in run.telegram.sent_to(STAFF_CHAT) if m.message_id not in accepted and "NEW" in m.text), None),
            40)
        await run.press(STAFF_MEMBER, card, "Accept")
        await run.until(card, "ACCEPTED")
        accepted.add(card.message_id)


async def kill_one_mid_answer(run: Run) -> tuple[Replica, str]:
    """SIGKILL the first replica seen answering a question once a few have been answered; it and the question."""
    by_key = {r.key: r for r in run.replicas}

    def answering() -> Span | None:
        if sum(1 for s in run.openai.spans if s.end is not None) < 6:
            return None
        return next((s for s in run.openai.spans if s.end is None and s.body["messages"][-1].get("role") == "user"
                     and "Answer to" in (responder(s.body).content or "")), None)

    span = await run.openai.wait_for(answering, timeout=40)
    victim = by_key[span.key]
    assert victim.proc is not None
    run.killed.append((time.monotonic(), victim.name, span.body["messages"][-1]["content"]))
    victim.proc.kill()  # SIGKILL: no shutdown, no answer, its turn lock left to expire
    victim.proc.wait()
    marker = MARKER.search(span.body["messages"][-1]["content"])
    assert marker is not None
    return victim, marker.group(0)


def turns_per_customer(spans: list[Span], owner: dict[str, int]) -> dict[int, list[tuple[float, float, str]]]:
    """Each customer's turns at the model, (start, end, replica key): one per (replica, message) pair."""
    turns: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for span in spans:
        asked = next(str(m.get("content") or "") for m in reversed(span.body["messages"]) if m.get("role") == "user")
        marker = MARKER.search(asked)
        assert marker is not None, asked
        turns[(span.key, marker.group(0))].append(span)
    out: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    for (key, marker), group in turns.items():
        end = max(s.end if s.end is not None else s.start for s in group)
        out[owner[marker]].append((min(s.start for s in group), end, key))
    return out


async def test_three_replicas_behind_a_proxy_one_killed_mid_answer_lose_nothing_and_never_answer_one_customer_twice_at_once(  # noqa: E501
    tmp_path: Path, redis_server: RedisServer
) -> None:
    started = time.monotonic()
    async with three_replicas(tmp_path, redis_server) as run:
        up = time.monotonic() - started
        run.telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
        killer = asyncio.create_task(kill_one_mid_answer(run))
        customers = [*(questions(run, u) for u in QUESTIONERS), *(order_in_words(run, u) for u in WORDS),
                     *(order_by_buttons(run, u) for u in BUTTONS), staff_accepts(run, len(WORDS) + len(BUTTONS))]
        await asyncio.wait_for(asyncio.gather(*customers), 60)
        victim, cut_question = await asyncio.wait_for(killer, 5)
        async with Database(database.test_database_url() or "") as db:
            orders = [dict(r) for r in await db.fetchall("SELECT user_id, day_seq, status FROM orders")]
        refused, failures = dict(run.proxy.refused), list(run.telegram.webhook_failures)
        spans = list(run.openai.spans)
        texts = {u: run.telegram.texts_to(u) for u in EVERYONE}
        cards = [c["text"] for c in run.telegram.calls("sendMessage") if c.get("chat_id") == STAFF_CHAT]
        markers = {u: list(m) for u, m in run.markers.items()}
    elapsed = time.monotonic() - started
    print(f"three replicas up in {up:.1f} s; whole run {elapsed:.1f} s; killed {victim.name} answering "
          f"{cut_question}; webhook redeliveries {len(failures)}; refused by the killed replica {refused}")

    # The kill happened mid-answer and the cut update was delivered again, elsewhere.
    assert victim.url in refused and any(error.startswith(("Wrong response", "Connection")) for _, _, error in failures)
    assert any(s.key != victim.key and s.end is not None and cut_question in str(s.body["messages"][-1]["content"])
               for s in spans)  # the cut question was asked again, by another replica
    # Every message answered (the one cut by the kill included).
    for user_id, sent in markers.items():
        for marker in sent:
            assert any(marker in t for t in texts[user_id]), (user_id, marker, texts[user_id])
    # Every order in the database once: one per ordering customer, each accepted by staff.
    assert sorted(o["user_id"] for o in orders) == sorted(WORDS + BUTTONS), orders
    assert len({o["day_seq"] for o in orders}) == len(orders) and {o["status"] for o in orders} == {"accepted"}
    # Every staff card sent once (each then edited in place).
    numbers = [re.search(r"Order #(\d+)", text) for text in cards]
    assert sorted(int(m.group(1)) for m in numbers if m) == sorted(o["day_seq"] for o in orders), cards
    # No customer's two messages answered at the same time, though they arrived together at different replicas.
    owner = {marker: user_id for user_id, sent in markers.items() for marker in sent}
    overlaps = []
    for user_id, turns in turns_per_customer(spans, owner).items():
        turns.sort()
        overlaps += [(user_id, a, b) for a, b in itertools.pairwise(turns) if b[0] < a[1]]
    assert not overlaps, overlaps
    assert any("One moment" in t for u in EVERYONE for t in texts[u])  # a second message did wait its turn
    assert elapsed < 90
