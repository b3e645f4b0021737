"""Operations with the real agent: health status, SLO from real turns, prompt versions, turn logs."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.prompts import PROMPT_VERSION
from bot.semantic import Ct2Embedder
from bot.services import Seams
from bot.voice import WhisperTranscriber
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import free_port
from testkit.settings import ADMIN_TOKEN, TEST_TOKEN, make_settings, subprocess_env, with_openai
from tests.helpers import CUSTOMER_ID, admin_headers, poll_until, running_app, start_main

pytestmark = pytest.mark.slow

QUESTIONS = ["How much is a flat white?", "Do you have oat milk?", "Is the carrot cake nut free?",
             "Is the tomato soup vegan?"]
PARAPHRASE = "is ur tomato soup plant based"  # served by the semantic cache after QUESTIONS[3]


_customers = itertools.count(CUSTOMER_ID + 1000)


async def ask(http: aiohttp.ClientSession, base: str, text: str, user_id: int | None = None) -> dict:
    """One question from a new customer unless `user_id` says who (a model answer given inside a
    dialog is never shared, so questions meant to fill the caches come from fresh customers)."""
    user_id = next(_customers) if user_id is None else user_id
    async with http.post(f"{base}/api/agent/chat", json={"user_id": user_id, "text": text},
                         headers=admin_headers()) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def get_json(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


async def test_health_slo_and_metrics_agree_with_hand_computed_values_from_the_turns(
    openai_server: FakeOpenAI, telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession,
    whisper: WhisperTranscriber, embedder: Ct2Embedder,
) -> None:
    """Model, exact-cache, semantic and failed model turns; every figure recomputed from agent_events."""
    (tmp_path / "faq.yaml").write_text("questions: []\n")  # no FAQ seeding: every model request is a turn's
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server, openai_max_retries=0),
                             semantic_cache_enabled=True, faq_path=tmp_path / "faq.yaml")
    async with running_app(settings, Seams(transcriber=whisper, embedder=embedder)) as app:
        base = f"http://127.0.0.1:{app.port}"
        await poll_until(lambda: _ready(app))
        healthy = await get_json(http, f"{base}/api/agent/chat")
        for question in QUESTIONS:  # 4 model answers
            assert (await ask(http, base, question))["source"] == "llm"
        for question in QUESTIONS[:3]:  # 3 exact-cache answers
            assert (await ask(http, base, question))["source"] == "cache"
        assert (await ask(http, base, PARAPHRASE, user_id=CUSTOMER_ID + 1))["source"] == "semantic"
        openai_server.fail(500, times=2)  # 2 failed model turns, answered from the menu data
        for question in ("Which cakes are vegan?", "Do you sell bagels?"):
            reply = await ask(http, base, question)
            assert reply["error_class"] == "server_error"
        status = await get_json(http, f"{base}/api/agent/chat")
        slo = await get_json(http, f"{base}/api/slo")
        async with http.get(f"{base}/metrics") as r:
            metrics_text = await r.text()
        events = await app.services.agent.events.recent(limit=100)
        semantic = app.services.semantic.stats

    assert healthy["status"] == "ok" and healthy["reasons"] == [] and healthy["turns"] == 0
    assert healthy["prompt_version"] == PROMPT_VERSION and healthy["menu_version"]
    assert healthy["model"] == "gpt-4o-mini" and healthy["cache"]["backend"] == "memory"

    latencies = [e.latency_ms for e in events]
    assert len(latencies) == 10
    errors = sum(1 for e in events if e.error_class)
    assert errors == 2
    # Nearest-rank over 10 turns: p95 is the 10th (largest) value, p50 the 5th.
    assert status["latency_ms"]["p95"] == pytest.approx(nearest_rank(latencies, 95), abs=0.11)
    assert status["latency_ms"]["p50"] == pytest.approx(nearest_rank(latencies, 50), abs=0.11)
    assert status["error_rate"] == pytest.approx(2 / 10, abs=1e-4)
    assert status["turns"] == 10
    answered_by = status["answered_by"]
    assert (answered_by["cache"], answered_by["semantic"], answered_by["llm"]) == (3, 1, 4)
    assert status["cache"]["exact"]["hit_rate"] == pytest.approx(3 / 10, abs=1e-4)
    assert semantic.hits == 1 and status["cache"]["semantic"]["hits"] == 1
    assert status["cache"]["semantic"]["hit_rate"] == pytest.approx(1 / semantic.lookups, abs=1e-4)

    rows = {row["key"]: row for row in slo["targets"]}
    assert rows["chat_p95_ms"]["value"] == pytest.approx(nearest_rank(latencies, 95), abs=0.11)
    assert rows["error_rate"]["value"] == pytest.approx(2 / 10, abs=1e-4) and rows["error_rate"]["met"] is False
    assert rows["semantic_hit_rate"]["value"] == pytest.approx(1 / semantic.lookups, abs=1e-4)
    assert rows["semantic_hit_rate"]["samples"] == semantic.lookups
    assert slo["all_met"] is False

    assert 'bot_openai_requests_total{outcome="ok"} 4.0' in metrics_text
    assert 'bot_openai_failures_total{error_class="server_error"} 2.0' in metrics_text
    assert 'bot_chat_turns_total{kind="api",source="cache"} 3.0' in metrics_text


async def test_health_is_degraded_while_the_openai_circuit_is_open(
    openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    openai_server.fail(429, times=50, code="insufficient_quota")
    settings = make_settings(tmp_path, **with_openai(openai_server, openai_max_retries=0))
    async with running_app(settings, Seams(transcriber=whisper)) as app:
        base = f"http://127.0.0.1:{app.port}"
        for i in range(5):  # the breaker opens after 5 consecutive failures
            reply = await ask(http, base, f"Do you have item number {i}?")
            assert reply["error_class"] == "quota" and reply["answer"]
        status = await get_json(http, f"{base}/api/agent/chat")
        async with http.get(f"{base}/metrics") as r:
            metrics_text = await r.text()
    assert status["status"] == "degraded"
    assert any(r.startswith("OpenAI circuit open") for r in status["reasons"]), status["reasons"]
    assert status["circuit_breaker"]["state"] == "open" and status["error_rate"] == 1.0
    assert 'bot_openai_failures_total{error_class="quota"} 5.0' in metrics_text
    assert 'bot_openai_circuit_state{state="open"} 1.0' in metrics_text
    assert openai_server.api_key not in json.dumps(status) and openai_server.api_key not in metrics_text


async def test_health_is_degraded_when_redis_is_down_or_whisper_is_not_loaded(
    openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The runbook's "disable Redis" mitigation (an unreachable REDIS_URL) and a model that cannot load."""
    (tmp_path / "no-model").mkdir()
    settings = make_settings(tmp_path, **with_openai(openai_server), redis_url=f"redis://127.0.0.1:{free_port()}/0",
                             whisper_model=str(tmp_path / "no-model"))
    async with running_app(settings) as app:
        base = f"http://127.0.0.1:{app.port}"
        await poll_until(lambda: _whisper_failed(app), timeout=30)
        reply = await ask(http, base, "How much is a flat white?")
        status = await get_json(http, f"{base}/api/agent/chat")
        cache = await get_json(http, f"{base}/api/cache")
    assert reply["source"] == "llm"  # customers still get answers
    assert status["status"] == "degraded"
    assert any(r.startswith("Redis down") for r in status["reasons"]), status["reasons"]
    assert any(r.startswith("Whisper not loaded") for r in status["reasons"]), status["reasons"]
    assert status["cache"]["backend"] == "memory" and status["cache"]["redis"]["available"] is False
    assert cache["backend"] == "memory" and cache["stats"]["fallback"]["active"] is True


async def _ready(app) -> bool:  # type: ignore[no-untyped-def]
    return app.services.semantic.ready


async def _whisper_failed(app) -> bool:  # type: ignore[no-untyped-def]
    return app.services.transcriber.status().status == "error"


async def test_changing_prompt_version_sends_the_next_identical_question_to_the_model(
    openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber,
    embedder: Ct2Embedder, redis_server,
) -> None:
    """Cached answers (exact and semantic) are tied to the prompt version; a rollback serves only its own."""
    question = "How much is a flat white?"
    openai_server.script("Flat white: €3.40 (answer under the first prompt).",
                         "Flat white: €3.40 (answer under the second prompt).")
    (tmp_path / "faq.yaml").write_text("questions: []\n")
    common = {**with_openai(openai_server), "redis_url": redis_server.url, "semantic_cache_enabled": True,
              "faq_path": tmp_path / "faq.yaml"}
    seams = Seams(transcriber=whisper, embedder=embedder)

    async with running_app(make_settings(tmp_path, **common), seams) as app:
        base = f"http://127.0.0.1:{app.port}"
        await poll_until(lambda: _ready(app))
        first = await ask(http, base, question)
        again = await ask(http, base, question)
        paraphrase = await ask(http, base, "what does a flat white cost")
    assert (first["source"], again["source"], openai_server.request_count) == ("llm", "cache", 1)
    assert paraphrase["source"] == "semantic"  # both caches hold the first prompt's answer
    assert first["prompt_version"] == again["prompt_version"] == PROMPT_VERSION

    async with running_app(make_settings(tmp_path, prompt_version="2099-01-01.1", **common), seams) as app:
        base = f"http://127.0.0.1:{app.port}"
        await poll_until(lambda: _ready(app))
        changed = await ask(http, base, question)
        changed_again = await ask(http, base, question)
    assert changed["source"] == "llm" and openai_server.request_count == 2  # the model, not the cache
    assert "second prompt" in changed["answer"] and changed["prompt_version"] == "2099-01-01.1"
    assert changed_again["source"] == "cache" and "second prompt" in changed_again["answer"]

    async with running_app(make_settings(tmp_path, **common), seams) as app:  # roll back
        rolled_back = await ask(http, f"http://127.0.0.1:{app.port}", question)
    assert openai_server.request_count == 2
    assert rolled_back["prompt_version"] == PROMPT_VERSION
    assert "first prompt" in rolled_back["answer"]  # never the other version's answer


async def test_json_turn_logs_carry_user_kind_source_latency_and_prompt_version_and_no_secrets(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    """`python main.py` with LOG_FORMAT=json: one JSON object per line, the turn line has its fields."""
    env = subprocess_env(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=telegram.url, DATABASE_PATH=str(tmp_path / "bot.db"),
        HTTP_HOST="127.0.0.1", HTTP_PORT="0", LOG_FORMAT="json", OPENAI_API_KEY=openai_server.api_key,
        OPENAI_BASE_URL=openai_server.url, ADMIN_API_TOKEN=ADMIN_TOKEN, PROMPT_VERSION="2099-02-02.json",
    )
    proc = start_main([], env, tmp_path)
    try:
        await telegram.wait_for(lambda: telegram.calls("setMyCommands"), timeout=60)
        telegram.send_text(CUSTOMER_ID, "How much is a flat white?")
        await telegram.wait_for_messages(CUSTOMER_ID, timeout=30)
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        output = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    records = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is JSON
    [turn] = [r for r in records if r.get("event") == "agent_turn"]
    assert turn["user_id"] == CUSTOMER_ID and turn["kind"] == "text" and turn["source"] == "llm"
    assert turn["latency_ms"] > 0 and turn["prompt_version"] == "2099-02-02.json"
    assert "prompt_version=2099-02-02.json" in turn["message"]
    for secret in (TEST_TOKEN, openai_server.api_key, ADMIN_TOKEN):
        assert secret not in output


async def test_slo_command_reads_the_live_bot_and_falls_back_to_agent_events(
    openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    port = free_port()
    settings = make_settings(tmp_path, **with_openai(openai_server), http_port=port)
    env = subprocess_env(DATABASE_PATH=str(settings.database_path), HTTP_PORT=str(port), REDIS_URL="")
    async with running_app(settings, Seams(transcriber=whisper)) as app:
        base = f"http://127.0.0.1:{app.port}"
        for question in QUESTIONS:
            await ask(http, base, question)
        await ask(http, base, QUESTIONS[0])  # one exact-cache answer
        live_code, live_out = await run_main(["slo", "--json"], env)
        events = await app.services.agent.events.recent(limit=100)
    stored_code, stored_out = await run_main(["slo", "--json"], env)  # nothing listens on the port now
    text_code, text_out = await run_main(["slo"], env)

    live, stored = json.loads(live_out), json.loads(stored_out)
    assert live["source"].startswith("live from http://127.0.0.1")
    assert stored["source"].startswith("agent_events")
    latencies = [e.latency_ms for e in events]
    for code, report in ((live_code, live), (stored_code, stored)):
        rows = {row["key"]: row for row in report["targets"]}
        assert rows["chat_p95_ms"]["value"] == pytest.approx(nearest_rank(latencies, 95), abs=0.11)
        assert rows["chat_p95_ms"]["samples"] == 5 and rows["error_rate"]["value"] == 0
        assert rows["error_rate"]["met"] is True
        assert code == (1 if any(row["met"] is False for row in report["targets"]) else 0)
    stored_rows = {row["key"]: row for row in stored["targets"]}
    # From events: semantic answers / turns the exact cache did not answer = 0 of 4 here.
    assert (stored_rows["semantic_hit_rate"]["value"], stored_rows["semantic_hit_rate"]["samples"]) == (0, 4)
    assert stored_rows["semantic_hit_rate"]["met"] is False and stored_code == 1
    assert stored_rows["redis_hit_rate"]["met"] is None
    assert text_code == stored_code
    assert "Chat p95 < 1500 ms with cache (5-minute window)" in text_out and "NOT MET" in text_out


async def run_main(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode in (0, 1), err.decode()
    return proc.returncode, out.decode()
