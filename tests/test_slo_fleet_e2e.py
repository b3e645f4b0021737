"""`GET /api/slo` and `python main.py slo` over several replicas: two real applications sharing one Redis.

Each replica answers its own customers; either one's report gives the fleet's p95 (nearest rank over
both replicas' turns, not an average of their p95s), the fleet's error rate and one row per replica.
A replica that stops publishing ages out; with Redis down a replica reports its own figures and says so.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Application
from bot.services import Seams
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.servers import RedisServer, free_port
from testkit.settings import make_settings, subprocess_env, with_openai
from tests.helpers import admin_headers, poll_until, running_app

pytestmark = pytest.mark.slow

PUBLISH_SECONDS = 0.2  # figures kept 5 periods: a replica that stops publishing is gone within a second


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


@asynccontextmanager
async def replicas(tmp_path: Path, redis_url: str, openai_server: FakeOpenAI,
                   names: tuple[str, ...] = ("a", "b")) -> AsyncIterator[dict[str, tuple[Application, AsyncExitStack]]]:
    """Named replicas on one database and one Redis; each can be stopped on its own (its exit stack)."""
    out: dict[str, tuple[Application, AsyncExitStack]] = {}
    try:
        for name in names:
            settings = make_settings(tmp_path, redis_url=redis_url, replica_name=name,
                                     slo_publish_seconds=PUBLISH_SECONDS,
                                     **with_openai(openai_server, openai_max_retries=0))
            stack = AsyncExitStack()
            out[name] = (await stack.enter_async_context(running_app(settings, Seams())), stack)
        yield out
    finally:
        for _, stack in reversed(list(out.values())):
            await stack.aclose()


async def ask(http: aiohttp.ClientSession, app: Application, user_id: int, text: str) -> dict[str, Any]:
    async with http.post(f"http://127.0.0.1:{app.port}/api/agent/chat", json={"user_id": user_id, "text": text},
                         headers=admin_headers()) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def slo(http: aiohttp.ClientSession, app: Application) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{app.port}/api/slo") as r:
        assert r.status == 200, await r.text()
        return await r.json()


def latencies_ms(app: Application) -> list[float]:
    return [latency * 1000 for latency, _, _ in app.services.metrics.window.turns()]


def targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in report["targets"]}


async def run_main(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode in (0, 1), err.decode()
    return proc.returncode, out.decode()


async def test_either_replica_reports_the_fleets_p95_and_error_rate_with_a_row_per_replica(
    tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    async with replicas(tmp_path, redis_server.url, openai_server) as fleet:
        a, b = fleet["a"][0], fleet["b"][0]
        for i, (delay, question) in enumerate([(0.05, "How much is a flat white?"), (0.1, "Do you have oat milk?"),
                                               (0.15, "Is the soup vegan?")]):
            openai_server.latency = delay
            await ask(http, a, 5001 + i, question)
        openai_server.latency = 0.6  # b's turns are the slow ones: the fleet's p95 is one of them
        await ask(http, b, 5101, "Is the carrot cake nut free?")
        openai_server.fail(500, times=1)
        failed = await ask(http, b, 5102, "What time do you close?")
        assert failed["error_class"] is not None

        async def both_published() -> dict[str, Any] | None:
            report = await slo(http, a)
            turns = {row["replica"]: row["turns"] for row in report["replicas"]}
            return report if turns == {"a": 3, "b": 2} else None

        report = await poll_until(both_published, timeout=10)
        on_b = await slo(http, b)
        union = latencies_ms(a) + latencies_ms(b)
        own_a, own_b = latencies_ms(a), latencies_ms(b)

        # python main.py slo: the live endpoint (the fleet's report), then, with no bot on --url, Redis itself.
        env = subprocess_env(DATABASE_PATH=str(tmp_path / "bot.db"), REDIS_URL=redis_server.url)
        live_code, live_out = await run_main(["slo", "--json", "--url", f"http://127.0.0.1:{a.port}"], env)
        text_code, text_out = await run_main(["slo", "--url", f"http://127.0.0.1:{a.port}"], env)
        redis_code, redis_out = await run_main(["slo", "--json", "--url", f"http://127.0.0.1:{free_port()}"], env)

    assert report["scope"] == "fleet" and on_b["scope"] == "fleet"
    fleet_rows, rows_b = targets(report), targets(on_b)
    assert fleet_rows["chat_p95_ms"]["samples"] == 5 == rows_b["chat_p95_ms"]["samples"]
    assert fleet_rows["chat_p95_ms"]["value"] == pytest.approx(nearest_rank(union, 95), abs=0.11)
    assert fleet_rows["chat_p95_ms"]["value"] >= 600  # a's own p95 would say under 200 ms
    assert fleet_rows["error_rate"]["value"] == pytest.approx(1 / 5)
    assert fleet_rows["error_rate"]["met"] is False and report["all_met"] is False
    per_replica = {row["replica"]: row for row in report["replicas"]}
    assert per_replica["a"]["targets"]["chat_p95_ms"]["value"] == pytest.approx(nearest_rank(own_a, 95), abs=0.11)
    assert per_replica["b"]["targets"]["chat_p95_ms"]["value"] == pytest.approx(nearest_rank(own_b, 95), abs=0.11)
    assert per_replica["a"]["targets"]["error_rate"]["value"] == 0
    assert per_replica["b"]["targets"]["error_rate"]["value"] == pytest.approx(0.5)

    live, from_redis = json.loads(live_out), json.loads(redis_out)
    assert live["source"].startswith("live from") and live["scope"] == "fleet" and live_code == 1
    assert targets(live)["chat_p95_ms"]["samples"] == 5
    assert from_redis["source"].startswith("Redis") and redis_code == 1
    assert {row["replica"] for row in from_redis["replicas"]} == {"a", "b"}
    assert targets(from_redis)["error_rate"]["value"] == pytest.approx(1 / 5)
    assert text_code == 1
    assert "Fleet: 2 replicas" in text_out and "Per replica:" in text_out
    assert any(line.strip().startswith("b ") for line in text_out.splitlines())


async def test_a_replica_that_stops_publishing_ages_out_of_the_fleet(
    tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    async with replicas(tmp_path, redis_server.url, openai_server) as fleet:
        (a, _), (b, b_stack) = fleet["a"], fleet["b"]
        await ask(http, b, 5201, "Do you have oat milk?")

        async def names() -> set[str]:
            return {row["replica"] for row in (await slo(http, a))["replicas"]}

        await poll_until(lambda: _equals(names(), {"a", "b"}), timeout=10)
        await b_stack.aclose()  # b stops; its last figures stay in Redis for their time to live only
        report = await poll_until(lambda: _report_if(slo(http, a), lambda r: len(r["replicas"]) == 1), timeout=10)
    assert [row["replica"] for row in report["replicas"]] == ["a"]
    assert report["fleet_note"].startswith("1 replica")
    assert targets(report)["chat_p95_ms"]["samples"] == 0


async def test_with_redis_down_a_replica_reports_its_own_figures_and_says_so(
    tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    async with replicas(tmp_path, redis_server.url, openai_server) as fleet:
        a, b = fleet["a"][0], fleet["b"][0]
        await ask(http, a, 5301, "Do you have oat milk?")
        await ask(http, b, 5302, "Is the soup vegan?")
        await poll_until(lambda: _report_if(slo(http, a), lambda r: len(r["replicas"]) == 2), timeout=10)
        redis_server.stop()
        report = await slo(http, a)
        env = subprocess_env(DATABASE_PATH=str(tmp_path / "bot.db"), REDIS_URL=redis_server.url)
        _, text_out = await run_main(["slo", "--url", f"http://127.0.0.1:{a.port}"], env)
    assert report["scope"] == "replica"
    assert "Redis unavailable" in report["fleet_note"]
    assert targets(report)["chat_p95_ms"]["samples"] == 1
    assert [row["replica"] for row in report["replicas"]] == ["a"]
    assert "NOT the fleet's figures: this replica only: Redis unavailable" in text_out


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


async def _report_if(report: Any, predicate: Any) -> dict[str, Any] | None:
    result = await report
    return result if predicate(result) else None
