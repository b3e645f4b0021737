"""The model seam against the fake OpenAI server over real HTTP: retries, Retry-After, timeouts, breaker."""

from __future__ import annotations

import datetime as dt
import email.utils
import time

import openai
import pytest

from bot.agent.breaker import BreakerState, CircuitBreaker
from bot.agent.llm import ChatModel, ModelError, RetryPolicy, retry_after_seconds
from testkit.fakes.openai import FakeOpenAI, FakeReply
from tests.helpers import ManualClock

MESSAGES = [{"role": "system", "content": "- Espresso — €2.40"}, {"role": "user", "content": "espresso?"}]


class Model:
    """A ChatModel on the fake server whose backoff waits are recorded instead of slept."""

    def __init__(self, fake: FakeOpenAI, *, retries: int = 2, timeout: float = 2.0, threshold: int = 5) -> None:
        self.waits: list[float] = []
        self.requests: list[str | None] = []
        self.clock = ManualClock()
        self.breaker = CircuitBreaker(threshold, 30.0, clock=self.clock)
        client = openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.url, max_retries=0, timeout=timeout)

        async def record_wait(seconds: float) -> None:
            self.waits.append(seconds)

        self.model = ChatModel(client, "gpt-4o-mini", timeout=timeout, retry=RetryPolicy(max_retries=retries),
                               breaker=self.breaker, sleep=record_wait, rng=lambda: 0.5,
                               on_request=lambda error, _: self.requests.append(error))

    async def ask(self) -> str:
        return (await self.model.complete(MESSAGES, max_tokens=50)).text


async def test_a_429_is_retried_after_its_retry_after(openai_server: FakeOpenAI) -> None:
    openai_server.fail(429, retry_after=2)
    m = Model(openai_server)
    assert "Espresso" in await m.ask()
    assert openai_server.request_count == 2
    assert len(m.waits) == 1 and 2.0 <= m.waits[0] <= 2.3
    assert m.requests == ["rate_limit", None]


async def test_a_retry_after_longer_than_a_customer_should_wait_is_not_waited_for(openai_server: FakeOpenAI) -> None:
    openai_server.fail(429, retry_after=60)
    m = Model(openai_server)
    with pytest.raises(ModelError) as failure:
        await m.ask()
    assert failure.value.error_class == "rate_limit" and failure.value.retry_after == 60
    assert openai_server.request_count == 1 and m.waits == []


async def test_server_errors_back_off_exponentially_then_give_up(openai_server: FakeOpenAI) -> None:
    openai_server.fail(500, times=3)
    m = Model(openai_server, retries=2)
    with pytest.raises(ModelError) as failure:
        await m.ask()
    assert failure.value.error_class == "server_error" and failure.value.status == 500
    assert openai_server.request_count == 3
    assert m.waits == [0.375, 0.75]  # base 0.5 doubling, half fixed + half jitter (rng 0.5)


def test_backoff_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=4.0)
    for attempt, full in enumerate([0.5, 1.0, 2.0, 4.0, 4.0]):
        assert policy.backoff(attempt, None, lambda: 0.0) == full / 2
        assert policy.backoff(attempt, None, lambda: 0.999999) == pytest.approx(full, rel=1e-5)
    assert policy.backoff(5, None) is None  # retries used up
    assert policy.backoff(0, 3.0, lambda: 0.0) == 3.0  # Retry-After is a floor


@pytest.mark.parametrize(("status", "code", "error_class"), [
    (401, None, "auth"), (429, "insufficient_quota", "quota"), (400, None, "bad_request"), (404, None, "not_found"),
])
async def test_errors_that_retrying_cannot_fix_are_not_retried(
    openai_server: FakeOpenAI, status: int, code: str | None, error_class: str
) -> None:
    openai_server.fail(status, code=code)
    m = Model(openai_server)
    with pytest.raises(ModelError) as failure:
        await m.ask()
    assert failure.value.error_class == error_class
    assert openai_server.request_count == 1 and m.waits == []


async def test_a_wrong_api_key_is_an_auth_error(openai_server: FakeOpenAI) -> None:
    client = openai.AsyncOpenAI(api_key="sk-wrong", base_url=openai_server.url, max_retries=0)
    model = ChatModel(client, "gpt-4o-mini", timeout=2, retry=RetryPolicy(), breaker=CircuitBreaker())
    with pytest.raises(ModelError) as failure:
        await model.complete(MESSAGES, max_tokens=10)
    assert failure.value.error_class == "auth"


async def test_a_hanging_server_times_out_promptly(openai_server: FakeOpenAI) -> None:
    openai_server.hang()
    m = Model(openai_server, retries=0, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ModelError) as failure:
        await m.ask()
    assert failure.value.error_class == "timeout"
    assert time.monotonic() - started < 3.0


async def test_the_breaker_opens_after_repeated_failures_and_probes_again_later(openai_server: FakeOpenAI) -> None:
    openai_server.fail(500, times=3)
    m = Model(openai_server, retries=0, threshold=3)
    for _ in range(3):
        with pytest.raises(ModelError):
            await m.ask()
    assert m.breaker.state is BreakerState.OPEN
    with pytest.raises(ModelError) as refused:
        await m.ask()
    assert refused.value.error_class == "circuit_open"
    assert openai_server.request_count == 3  # refused without a request

    m.clock.now += 30
    assert m.breaker.state is BreakerState.HALF_OPEN
    openai_server.fail(500)
    with pytest.raises(ModelError):
        await m.ask()  # the probe fails: open again
    assert m.breaker.state is BreakerState.OPEN and m.breaker.snapshot().trips == 2

    m.clock.now += 30
    assert "Espresso" in await m.ask()  # the probe succeeds: closed
    assert m.breaker.state is BreakerState.CLOSED and m.breaker.snapshot().consecutive_failures == 0


def test_half_open_lets_one_probe_through_at_a_time() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(1, 10.0, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 10
    assert breaker.allow() and not breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    future = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    assert 100 < (retry_after_seconds({"retry-after": email.utils.format_datetime(future, usegmt=True)}) or 0) <= 120
    assert retry_after_seconds({}) is None


async def test_tool_calls_are_parsed(openai_server: FakeOpenAI) -> None:
    openai_server.script(FakeReply(tool_calls=[{"name": "show_cart", "arguments": {"detail": True}}]))
    m = Model(openai_server)
    tools = [{"type": "function", "function": {"name": "show_cart", "parameters": {"type": "object"}}}]
    completion = await m.model.complete(MESSAGES, max_tokens=50, tools=tools)
    [call] = completion.tool_calls
    assert call.name == "show_cart" and call.arguments == '{"detail": true}'
    assert completion.assistant_message()["tool_calls"][0]["function"]["name"] == "show_cart"
    assert openai_server.requests[0]["tools"] == tools


async def test_the_fake_streams_text_tool_calls_and_usage_like_openai(openai_server: FakeOpenAI) -> None:
    client = openai.AsyncOpenAI(api_key=openai_server.api_key, base_url=openai_server.url, max_retries=0)
    long_text = "Our flat white is made with a double ristretto. " * 5
    openai_server.script(long_text, FakeReply(tool_calls=[{"name": "search_menu", "arguments": {"q": "tea"}}]))
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(pieces) == long_text and len(pieces) > 1
    assert usage is not None and usage.completion_tokens > 0

    tools = [{"type": "function", "function": {"name": "search_menu", "parameters": {"type": "object"}}}]
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, tools=tools)
    chunks = [chunk async for chunk in stream if chunk.choices]
    calls = [call for chunk in chunks for call in (chunk.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "search_menu" and calls[0].function.arguments == '{"q": "tea"}'
    models = await client.models.list()
    assert [m.id for m in models.data] == ["gpt-4o-mini"]
