"""Daily token budgets: per user and for the cafe, reset at the cafe's midnight, durable across restarts.

Unit tests drive `TokenBudget` with a real SQLite file and an injected clock; the
end-to-end tests run the real application against the fake Bot API and the fake OpenAI
server (whose usage figures count every character of the prompt, about 2,000 tokens a turn).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.agent import BudgetRefusal, TokenBudget
from bot.agent.service import BUDGET_NOTE
from bot.metrics import Metrics
from storage.agent_events import AgentEvent, AgentEventRepository
from storage.db import Database
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings, with_openai
from tests.helpers import CUSTOMER_ID, ManualClock, admin_headers, running_app

BERLIN = ZoneInfo("Europe/Berlin")  # the shipped cafe.yaml's time zone
OTHER = CUSTOMER_ID + 1


# --- unit: TokenBudget on a real database, with a clock the test moves ------------------------
class CountingEvents(AgentEventRepository):
    """The real repository, counting the sums it is asked for (to see the memo work)."""

    queries = 0

    async def tokens_since(self, since: float, user_id: int | None = None) -> int:
        self.queries += 1
        return await super().tokens_since(since, user_id)


@pytest.fixture
async def events(tmp_path: Path) -> Any:
    async with Database(make_settings(tmp_path).database_target) as db:
        yield CountingEvents(db)


def berlin(*args: int) -> float:
    return dt.datetime(*args, tzinfo=BERLIN).timestamp()


async def turn(events: AgentEventRepository, budget: TokenBudget, clock: ManualClock, user_id: int,
               tokens: int) -> None:
    """What the agent does after a model turn: the event row, then the spend."""
    await events.record(AgentEvent(user_id=user_id, kind="text", latency_ms=1.0, source="llm", model="m",
                                   prompt_version="v", tokens_in=tokens - tokens // 4, tokens_out=tokens // 4,
                                   created_at=clock.now))
    budget.spend(user_id, tokens)


async def test_a_users_budget_resets_at_the_cafes_midnight_not_at_utcs(events: CountingEvents) -> None:
    clock = ManualClock(berlin(2024, 1, 15, 23, 50))  # 22:50 UTC
    budget = TokenBudget(events, 1000, 0, lambda: BERLIN, clock=clock)
    assert await budget.refusal(CUSTOMER_ID) is None
    await turn(events, budget, clock, CUSTOMER_ID, 1200)
    assert await budget.refusal(CUSTOMER_ID) == BudgetRefusal("user", 1200, 1000)
    assert await budget.refusal(OTHER) is None  # per user
    clock.now = berlin(2024, 1, 16, 0, 10)  # 23:10 UTC: still the same day in UTC
    assert await budget.refusal(CUSTOMER_ID) is None
    assert budget.status()["day"] == "2024-01-16"


async def test_spending_survives_a_restart_and_other_processes_spending_is_seen(events: CountingEvents) -> None:
    clock = ManualClock(berlin(2024, 7, 1, 12, 0))
    first = TokenBudget(events, 1000, 0, lambda: BERLIN, clock=clock)
    await turn(events, first, clock, CUSTOMER_ID, 1500)
    restarted = TokenBudget(events, 1000, 0, lambda: BERLIN, clock=clock)  # a new process, same database
    assert await restarted.refusal(CUSTOMER_ID) == BudgetRefusal("user", 1500, 1000)

    other_process = TokenBudget(events, 1000, 0, lambda: BERLIN, clock=clock, refresh_seconds=60)
    assert await other_process.refusal(OTHER) is None
    await turn(events, first, clock, OTHER, 1100)  # spent through the first process
    assert await other_process.refusal(OTHER) is None  # memoised: not asked again yet
    clock.now += 60
    assert await other_process.refusal(OTHER) == BudgetRefusal("user", 1100, 1000)


async def test_the_sums_are_memoised_between_refreshes(events: CountingEvents) -> None:
    clock = ManualClock(berlin(2024, 7, 1, 12, 0))
    budget = TokenBudget(events, 10_000, 50_000, lambda: BERLIN, clock=clock, refresh_seconds=60)
    for _ in range(20):
        assert await budget.refusal(CUSTOMER_ID) is None
        await turn(events, budget, clock, CUSTOMER_ID, 100)
        clock.now += 1
    assert events.queries == 2  # everyone's sum and this user's, once each
    assert await budget.refusal(CUSTOMER_ID) is None and budget.status()["spent_today"] == 2000


async def test_the_global_budget_refuses_everyone_logs_once_a_day_and_counts_each_refusal(
    events: CountingEvents, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.agent.budget")
    clock = ManualClock(berlin(2024, 3, 30, 20, 0))
    metrics = Metrics()
    budget = TokenBudget(events, 0, 3000, lambda: BERLIN, clock=clock, metrics=metrics)
    await turn(events, budget, clock, CUSTOMER_ID, 3100)
    for user in (CUSTOMER_ID, OTHER, OTHER, OTHER + 1):
        assert await budget.refusal(user) == BudgetRefusal("global", 3100, 3000)
    assert budget.global_spent and budget.status()["spent_today"] == 3100
    assert metrics.registry.get_sample_value("bot_budget_refusals_total", {"scope": "global"}) == 4
    assert metrics.registry.get_sample_value("bot_budget_tokens_today") == 3100
    assert caplog.text.count("token budget: the cafe spent 3100 of 3000") == 1  # not once per message
    clock.now = berlin(2024, 3, 31, 0, 1)  # the cafe's next day (the night the clocks go forward)
    assert await budget.refusal(OTHER) is None and not budget.global_spent


async def test_no_budget_configured_costs_no_query(events: CountingEvents) -> None:
    budget = TokenBudget(events, 0, 0, lambda: BERLIN)
    assert await budget.refusal(CUSTOMER_ID) is None
    budget.spend(CUSTOMER_ID, 10_000)
    assert events.queries == 0 and budget.status()["enabled"] is False


# --- end to end ------------------------------------------------------------------------------------
async def ask(http: aiohttp.ClientSession, base: str, user_id: int, text: str) -> dict[str, Any]:
    async with http.post(f"{base}/api/agent/chat", json={"user_id": user_id, "text": text},
                         headers=admin_headers()) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_a_customer_over_their_budget_is_answered_from_cache_and_data_without_the_model(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.agent.budget")
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server), user_daily_token_budget=1000)
    async with running_app(settings) as app:
        telegram.send_text(CUSTOMER_ID, "Do you have lemonade?")  # ~2,000 tokens: over the budget after this
        [first] = await telegram.wait_for_messages(CUSTOMER_ID)
        telegram.send_text(CUSTOMER_ID, "Do you have anything vegan?")
        [vegan] = await telegram.wait_for_messages(CUSTOMER_ID, after=1)
        telegram.send_text(CUSTOMER_ID, "Do you have lemonade?")
        [again] = await telegram.wait_for_messages(CUSTOMER_ID, after=2)
        model_calls = openai_server.request_count
        telegram.send_text(OTHER, "Is there porridge?")  # another customer still reaches the model
        [other] = await telegram.wait_for_messages(OTHER)
        events = list(reversed(await app.services.agent.events.recent(user_id=CUSTOMER_ID)))
        async with http.get(f"http://127.0.0.1:{app.port}/api/agent/chat") as r:
            status = await r.json()
        refusals = app.services.metrics.registry.get_sample_value("bot_budget_refusals_total", {"scope": "user"})
    assert [e.source for e in events] == ["llm", "offline", "cache"]
    assert events[1].error_class == "budget" and events[1].tokens_in == 0
    assert "Vegan Brownie" in vegan.text and BUDGET_NOTE in vegan.text  # polite, from the menu, says why
    assert again.text == first.text  # the shared answer, not a new model call
    assert model_calls == 1 and openai_server.request_count == 2 and "Porridge" in other.text
    assert refusals == 1  # the cached answer never needed the model, so it was never refused
    assert caplog.text.count(f"token budget: user {CUSTOMER_ID} spent") == 1
    budget = status["budget"]
    assert budget["users_over_today"] == 1 and budget["user_daily_tokens"] == 1000
    assert budget["spent_today"] >= events[0].tokens_in + events[0].tokens_out
    assert not any("budget" in reason for reason in status["reasons"])  # one customer is not a degradation


async def test_the_global_budget_keeps_everyone_from_the_model_and_the_health_check_says_why(
    openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(tmp_path, **with_openai(openai_server), daily_token_budget=1000,
                             user_daily_token_budget=0)
    async with running_app(settings) as app:
        base = f"http://127.0.0.1:{app.port}"
        assert (await ask(http, base, CUSTOMER_ID, "Do you have lemonade?"))["source"] == "llm"
        refused = await ask(http, base, OTHER, "What's in the club sandwich?")
        status_data = await http.get(f"{base}/api/agent/chat")
        status = await status_data.json()
        metrics = app.services.metrics.render().decode()
    assert refused["source"] == "offline" and refused["error_class"] == "budget"
    assert "Club Sandwich" in refused["answer"]
    assert openai_server.request_count == 1
    assert status["status"] == "degraded"
    assert any(r.startswith("daily token budget spent") and "DAILY_TOKEN_BUDGET" in r for r in status["reasons"])
    assert status["budget"]["global_spent"] is True and status["budget"]["daily_tokens"] == 1000
    assert 'bot_budget_refusals_total{scope="global"} 1.0' in metrics
    assert 'bot_chat_errors_total{error_class="budget"}' not in metrics  # a budget is not an error


async def test_a_restart_does_not_reset_a_spent_budget(
    openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(tmp_path, **with_openai(openai_server), user_daily_token_budget=1000)
    async with running_app(settings) as app:
        first = await ask(http, f"http://127.0.0.1:{app.port}", CUSTOMER_ID, "Do you have lemonade?")
    async with running_app(settings) as app:
        after = await ask(http, f"http://127.0.0.1:{app.port}", CUSTOMER_ID, "Any croissants?")
    assert first["source"] == "llm"
    assert after["source"] == "offline" and after["error_class"] == "budget" and "Croissant" in after["answer"]
    assert openai_server.request_count == 1
