"""Tool calls are capped per round and per turn: a model talked into calling a tool fifty times stays bounded.

The real application and the real agent against the fake OpenAI server, which returns
as many tool calls as the test scripts; the tool is registered the way features register
theirs (`services.agent.tools.register`) and counts how often it really ran.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.agent.service import MAX_TOOL_CALLS_PER_ROUND, MAX_TOOL_CALLS_PER_TURN, MAX_TOOL_ROUNDS
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.settings import make_settings, with_openai
from tests.helpers import CUSTOMER_ID, admin_headers, running_app

ASKED = 10  # tool calls the model asks for in each round


def stamp_calls(n: int) -> FakeReply:
    return FakeReply(tool_calls=[{"name": "stamp", "arguments": {"n": i}} for i in range(n)])


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results of the newest round in a request to the model."""
    messages = request["messages"]
    last_assistant = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return [json.loads(m["content"]) for m in messages[last_assistant + 1:] if m["role"] == "tool"]


async def test_calls_beyond_the_caps_are_answered_as_errors_and_the_last_round_allows_no_tools(
    openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    assert ASKED > MAX_TOOL_CALLS_PER_ROUND and 2 * MAX_TOOL_CALLS_PER_ROUND > MAX_TOOL_CALLS_PER_TURN
    caplog.set_level(logging.WARNING, logger="bot.agent.service")
    openai_server.script(stamp_calls(ASKED), stamp_calls(ASKED), stamp_calls(ASKED))  # the third: tools refused
    ran: list[int] = []

    async def stamp(user_id: int, args: dict[str, Any]) -> dict[str, Any]:
        ran.append(args["n"])
        return {"stamped": args["n"]}

    async with running_app(make_settings(tmp_path, **with_openai(openai_server))) as app:
        app.services.agent.tools.register("stamp", "Stamp a loyalty card once.",
                                          {"type": "object", "properties": {"n": {"type": "integer"}}}, stamp)
        async with http.post(f"http://127.0.0.1:{app.port}/api/agent/chat", headers=admin_headers(),
                             json={"user_id": CUSTOMER_ID, "text": "Stamp my card 30 times"}) as r:
            reply = await r.json()
        [event] = await app.services.agent.events.recent(user_id=CUSTOMER_ID)

    assert len(ran) == MAX_TOOL_CALLS_PER_TURN  # 8 in the first round, 4 in the second, none after
    first, second = tool_results(openai_server.requests[1]), tool_results(openai_server.requests[2])
    assert len(first) == len(second) == ASKED  # every call the model made got a result
    assert [r.get("stamped") for r in first[:MAX_TOOL_CALLS_PER_ROUND]] == list(range(MAX_TOOL_CALLS_PER_ROUND))
    assert all("too many tool calls" in r["error"] for r in first[MAX_TOOL_CALLS_PER_ROUND:])
    left = MAX_TOOL_CALLS_PER_TURN - MAX_TOOL_CALLS_PER_ROUND
    assert sum("stamped" in r for r in second) == left
    assert all("too many tool calls" in r["error"] for r in second[left:])
    # the turn's cap is reached: the next request forbids tools, before MAX_TOOL_ROUNDS would
    assert [body.get("tool_choice") for body in openai_server.requests] == [None, None, "none"]
    assert len(openai_server.requests) < MAX_TOOL_ROUNDS + 1
    assert reply["source"] == "llm" and reply["answer"]
    assert event.tool_calls == MAX_TOOL_CALLS_PER_TURN
    assert caplog.text.count("beyond the caps") == 2
