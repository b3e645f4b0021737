"""The agent service with a real database, the real knowledge base and the fake OpenAI server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent import Agent, AnswerPipeline, CacheContext, CachedAnswer, LimitsError, build_agent
from bot.agent.limits import HISTORY_KEY, READ_TTL_SECONDS, LimitsService
from bot.agent.service import MAX_TOOL_ROUNDS, trim_history
from bot.knowledge import KnowledgeBase
from bot.ratelimit import SlidingWindowLimiter
from bot.semantic.sharing import CacheKind, Provenance
from bot.semantic.text import normalise_question
from storage.db import Database
from storage.dialogs import DialogMessage
from storage.knowledge import KnowledgeRepository
from storage.runtime_settings import RuntimeSettingsRepository
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.settings import make_settings, with_openai


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(make_settings(tmp_path).database_target) as database:
        yield database


async def make_agent(db: Database, tmp_path: Path, fake: FakeOpenAI | None, **overrides: Any) -> Agent:
    settings = make_settings(tmp_path, **(with_openai(fake) if fake else {}), **overrides)
    knowledge = KnowledgeBase(settings, KnowledgeRepository(db))
    await knowledge.start()
    return build_agent(settings, db, knowledge, RuntimeSettingsRepository(db))


async def test_a_tool_call_runs_the_handler_and_its_result_reaches_the_model(
    db: Database, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    agent = await make_agent(db, tmp_path, openai_server)
    calls: list[tuple[int, dict[str, Any]]] = []

    async def show_cart(user_id: int, args: dict[str, Any]) -> dict[str, Any]:
        calls.append((user_id, args))
        return {"items": ["Flat White"], "total": "€3.60"}

    agent.tools.register("show_cart", "Show the customer's cart", {"type": "object", "properties": {}}, show_cart)
    openai_server.script(FakeReply(tool_calls=[{"name": "show_cart", "arguments": {"full": True}}]))
    reply = await agent.answer(7, "What's in my cart?")
    assert calls == [(7, {"full": True})]
    assert reply.source == "llm" and reply.tool_calls == 1 and "€3.60" in reply.answer
    second = openai_server.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "show_cart"
    assert second[-1]["role"] == "tool" and "Flat White" in second[-1]["content"]
    # a turn that used a tool is personal: never cached for anyone
    other = await agent.answer(8, "What's in my cart?")
    assert other.source == "llm" and openai_server.request_count == 3


async def test_the_tool_loop_is_bounded(db: Database, tmp_path: Path, openai_server: FakeOpenAI) -> None:
    agent = await make_agent(db, tmp_path, openai_server)

    async def search(user_id: int, args: dict[str, Any]) -> str:
        return "nothing found"

    agent.tools.register("search_menu", "Search", {"type": "object", "properties": {}}, search)
    openai_server.script(*[FakeReply(tool_calls=[{"name": "search_menu", "arguments": {}}])] * 10)
    reply = await agent.answer(7, "find me something")
    assert reply.tool_calls == MAX_TOOL_ROUNDS
    assert openai_server.request_count == MAX_TOOL_ROUNDS + 1
    assert openai_server.requests[-1]["tool_choice"] == "none"
    assert reply.answer


async def test_a_failing_tool_is_reported_to_the_model_not_raised(
    db: Database, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    agent = await make_agent(db, tmp_path, openai_server)

    async def broken(user_id: int, args: dict[str, Any]) -> str:
        raise RuntimeError("database gone")

    agent.tools.register("place_order", "Order", {"type": "object", "properties": {}}, broken)
    openai_server.script(FakeReply(tool_calls=[{"name": "place_order", "arguments": "not json"}]),
                         FakeReply(tool_calls=[{"name": "place_order", "arguments": {}}]))
    reply = await agent.answer(7, "order it")
    tool_messages = [m for m in openai_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in tool_messages[0]["content"] and "RuntimeError" in tool_messages[1]["content"]
    assert reply.source == "llm"


def test_tool_registration_is_checked() -> None:
    from bot.agent import ToolRegistry

    registry = ToolRegistry()

    async def handler(user_id: int, args: dict[str, Any]) -> str:
        return "ok"

    registry.register("a", "A", {"type": "object"}, handler)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", "A", {"type": "object"}, handler)
    with pytest.raises(ValueError, match="object"):
        registry.register("b", "B", {"type": "string"}, handler)


async def test_standalone_answers_are_cached_and_shared_but_follow_ups_and_time_questions_are_not(
    db: Database, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    agent = await make_agent(db, tmp_path, openai_server)
    first = await agent.answer(1, "How much is the mocha?")
    again = await agent.answer(2, "how much is the Mocha")
    assert (first.source, again.source) == ("llm", "cache") and again.answer == first.answer
    assert openai_server.request_count == 1

    await agent.answer(1, "and the large one?")  # leans on the history: asked of the model
    await agent.answer(3, "and the large one?")  # no history for user 3, but user 1's answer was not stored
    await agent.answer(4, "Are you open now?")
    await agent.answer(5, "Are you open now?")
    assert openai_server.request_count == 5


async def test_the_cache_key_includes_the_prompt_version(db: Database, tmp_path: Path, openai_server: FakeOpenAI
                                                          ) -> None:
    agent = await make_agent(db, tmp_path, openai_server)
    await agent.answer(1, "Do you have lemonade?")
    other = await make_agent(db, tmp_path, openai_server, prompt_version="exp-2")
    other.answers = agent.answers  # same store, different prompt version
    reply = await other.answer(2, "Do you have lemonade?")
    assert reply.source == "llm" and reply.prompt_version == "exp-2"
    [event] = await other.events.recent(user_id=2)
    assert event.prompt_version == "exp-2"


class RecordingCache:
    """A stand-in for the semantic cache, to check what the agent asks and stores."""

    name = "recording"

    def __init__(self, hit: str | None = None) -> None:
        self.hit = hit
        self.lookups: list[CacheContext] = []
        self.stored: list[tuple[str, str, CacheContext]] = []

    async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None:
        self.lookups.append(ctx)
        return CachedAnswer(self.hit, "semantic", score=0.9) if self.hit else None

    async def store(self, question: str, answer: str, ctx: CacheContext) -> None:
        if ctx.store_blocker(CacheKind.SEMANTIC) is None:
            self.stored.append((question, answer, ctx))


async def test_caches_are_asked_before_the_model_and_only_history_free_answers_are_stored(
    db: Database, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    agent = await make_agent(db, tmp_path, openai_server, openai_max_retries=0)
    semantic = RecordingCache()
    agent.answers = AnswerPipeline([*agent.answers.stages, semantic])
    ok = await agent.answer(1, "Is the porridge vegan?")
    assert ok.source == "llm" and [(q, a) for q, a, _ in semantic.stored] == [("Is the porridge vegan?", ok.answer)]
    assert semantic.stored[0][2].provenance == Provenance()
    assert semantic.lookups[0].menu_version == agent.knowledge.answers_version

    in_dialog = await agent.answer(1, "Do you have oat milk?")  # standalone, but the model saw the dialog
    assert in_dialog.source == "llm" and len(openai_server.requests[-1]["messages"]) == 4
    assert len(semantic.stored) == 1 and len(semantic.lookups) == 2

    semantic.hit = "Yes, the porridge is vegan."
    openai_server.fail(500)
    calls = len(openai_server.requests)
    served = await agent.answer(2, "is porridge suitable for vegans")
    assert served.source == "semantic" and served.answer == "Yes, the porridge is vegan."
    assert len(openai_server.requests) == calls  # answered before the model was asked


async def test_a_broken_cache_never_breaks_the_answer(db: Database, tmp_path: Path, openai_server: FakeOpenAI
                                                      ) -> None:
    agent = await make_agent(db, tmp_path, openai_server)

    class Broken(RecordingCache):
        async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None:
            raise ConnectionError("redis down")

        async def store(self, question: str, answer: str, ctx: CacheContext) -> None:
            raise ConnectionError("redis down")

    agent.answers = AnswerPipeline([Broken()])
    reply = await agent.answer(1, "Do you have croissants?")
    assert reply.source == "llm" and "Croissant" in reply.answer


async def test_history_is_bounded_by_messages_and_tokens(db: Database, tmp_path: Path, openai_server: FakeOpenAI
                                                         ) -> None:
    agent = await make_agent(db, tmp_path, openai_server, history_max_messages=4)
    for n in range(4):
        await agent.answer(1, f"Question {n}: tell me about the espresso")
    assert len(openai_server.requests[-1]["messages"]) == 1 + 4 + 1
    await agent.limits.apply("tokens=16", admin_id=1)  # a 64-token history budget holds one short exchange
    await agent.answer(1, "Question 4: tell me about the latte")
    last = openai_server.requests[-1]
    assert last["max_tokens"] == 16 and len(last["messages"]) < 6


def test_trim_history_keeps_the_newest_and_starts_with_a_user_message() -> None:
    history = [DialogMessage("user" if n % 2 == 0 else "assistant", "x" * 40, 0.0) for n in range(6)]
    kept = trim_history(history, 35)  # each message ≈ 11 tokens: three fit
    assert [m.role for m in kept] == ["user", "assistant"]
    assert trim_history(history, 10_000) == history


async def test_an_idle_dialog_starts_fresh(db: Database, tmp_path: Path, openai_server: FakeOpenAI) -> None:
    agent = await make_agent(db, tmp_path, openai_server, dialog_idle_minutes=30)
    await agent.answer(1, "Do you have green tea?")
    await agent.answer(1, "Do you have black tea?")
    assert len(openai_server.requests[-1]["messages"]) == 4
    await db.execute("UPDATE dialogs SET last_message_at = last_message_at - 31 * 60")
    await agent.answer(1, "Do you have chai?")
    assert len(openai_server.requests[-1]["messages"]) == 2


async def test_no_api_key_means_limited_mode_with_offline_answers(db: Database, tmp_path: Path) -> None:
    agent = await make_agent(db, tmp_path, None)
    assert agent.limited and agent.status()["status"] == "limited"
    reply = await agent.answer(1, "When are you open on Saturday?")
    assert reply.source == "offline" and reply.error_class == "no_api_key" and "09:00–20:00" in reply.answer
    [event] = await agent.events.recent(user_id=1)
    assert (event.source, event.model, event.error_class) == ("offline", "offline", "no_api_key")


async def test_an_unanswerable_question_during_an_outage_gets_an_apology(
    db: Database, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    agent = await make_agent(db, tmp_path, openai_server, openai_max_retries=0)
    openai_server.fail(503)
    reply = await agent.answer(1, "Who won the football yesterday?")
    assert reply.source == "offline" and reply.answer.startswith("Sorry") and reply.error_class == "server_error"


async def test_limits_parsing(db: Database, tmp_path: Path) -> None:
    agent = await make_agent(db, tmp_path, None)
    for bad, message in [("history=abc", "whole number"), ("tokens=5", "between"), ("speed=3", "unknown"),
                         ("", "give")]:
        with pytest.raises(LimitsError, match=message):
            await agent.limits.apply(bad, admin_id=1)
    limits = await agent.limits.apply("history=4 tokens=300", admin_id=1)
    assert (limits.history_max_messages, limits.max_tokens) == (4, 300) and limits.overridden == {"history", "tokens"}
    limits = await agent.limits.apply("reset", admin_id=1)
    assert (limits.history_max_messages, limits.max_tokens, limits.overridden) == (12, 400, frozenset())


def test_normalised_questions_share_an_exact_key() -> None:
    assert normalise_question("  How much is the FLAT-white?? ") == normalise_question("how much is the flat-white")


def test_sliding_window_rate_limiter() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, 10.0, clock=lambda: now[0])
    assert limiter.check(1).allowed and limiter.check(1).allowed
    refused = limiter.check(1)
    assert not refused.allowed and refused.first_refusal and refused.retry_after == 10.0
    assert not limiter.check(1).first_refusal  # one notice per burst
    assert limiter.check(2).allowed  # per user
    now[0] = 10.5
    assert limiter.check(1).allowed


def test_the_rate_limiter_forgets_idle_users() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, 10.0, clock=lambda: now[0], max_tracked=3)
    for user in (1, 2, 3):
        limiter.check(user)
    now[0] = 11.0
    limiter.check(4)
    assert len(limiter) == 1


async def test_an_edit_of_the_cafe_facts_retires_cached_answers(
    db: Database, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    """Closing earlier on Sundays must not leave the old hours in the shared cache."""
    cafe = tmp_path / "cafe.yaml"
    cafe.write_text((ROOT / "data" / "cafe.yaml").read_text("utf-8"), "utf-8")
    agent = await make_agent(db, tmp_path, openai_server, cafe_path=cafe)
    openai_server.script("Sunday: 09:00–16:00.", "Sunday: 09:00–14:00.")
    assert (await agent.answer(1, "When are you open on Sunday?")).source == "llm"
    assert (await agent.answer(2, "When are you open on Sunday?")).source == "cache"
    cafe.write_text(cafe.read_text("utf-8").replace('sunday: "09:00-16:00"', 'sunday: "09:00-14:00"'), "utf-8")
    menu_before = agent.knowledge.menu.version
    await agent.knowledge.reload()
    assert agent.knowledge.menu.version == menu_before  # only the cafe facts changed
    fresh = await agent.answer(3, "When are you open on Sunday?")
    assert fresh.source == "llm" and fresh.answer == "Sunday: 09:00–14:00."


async def test_limits_are_read_once_per_interval_and_a_change_here_is_seen_at_once(db: Database, tmp_path: Path
                                                                                    ) -> None:
    """One SQL read saved per turn: the limits are remembered for READ_TTL_SECONDS; another process's change
    (written straight to the table here) shows after that time, this process's own change at once."""
    now = [1000.0]
    repo = RuntimeSettingsRepository(db)
    limits = LimitsService(make_settings(tmp_path), repo, clock=lambda: now[0])
    assert (await limits.current()).history_max_messages == 12
    await repo.set(HISTORY_KEY, "3", updated_by=None)  # as another process would
    assert (await limits.current()).history_max_messages == 12  # remembered
    now[0] += READ_TTL_SECONDS
    assert (await limits.current()).history_max_messages == 3  # read again
    assert (await limits.apply("history=5", admin_id=1)).history_max_messages == 5
    assert (await limits.current()).history_max_messages == 5  # this process's own change, at once
