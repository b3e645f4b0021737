"""Agent benchmark: what the agent itself costs per turn, by answer path, and the prompt's size.

    python -m bench.agent_bench [--turns 200] [--latency-ms 0]

The real agent (real SQLite database, the shipped menu and cafe facts, the real `openai`
client over HTTP) answers against the fake OpenAI-compatible server of the tests, which
answers at once unless --latency-ms says otherwise; so the figures are the agent's own
overhead (prompt, history, database writes, HTTP) on top of whatever a real model takes.

Paths measured: the model (`llm`), an exact-cache hit (`cache`), the offline answerer in
limited mode (`offline`), the fallback after a failed model call (500, no retry), and the
fallback while the circuit breaker is open (no request made).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from bot.agent import BREAKER_FAILURES, Agent, build_agent
from bot.agent.service import estimate_tokens
from bot.knowledge import KnowledgeBase
from bot.prompts import build_system_prompt
from storage.db import Database
from storage.knowledge import KnowledgeRepository
from storage.runtime_settings import RuntimeSettingsRepository
from testkit.fakes.openai import FakeOpenAI
from testkit.settings import make_settings, with_openai

QUESTIONS = [
    "Do you have anything vegan?", "When are you open on Sunday?", "How much is a flat white?",
    "What's in the club sandwich?", "Is the carrot cake nut free?", "What's the wifi password?",
    "Where are you located?", "Can I bring my dog?", "Do you take cards?", "What gluten-free cakes are there?",
]


def figures(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{name:<22} n={len(samples):<5} p50={statistics.median(samples):7.2f} ms  p95={p95:7.2f} ms"


async def timed(agent: Agent, user: int, question: str, expect: str) -> float:
    started = time.perf_counter()
    reply = await agent.answer(user, question)
    elapsed = (time.perf_counter() - started) * 1000
    if reply.source != expect:
        raise SystemExit(f"expected source {expect}, got {reply.source} ({reply.error_class})")
    return elapsed


async def run(turns: int, latency_ms: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        async with FakeOpenAI() as fake, Database(tmp_path / "bench.db") as db:
            fake.latency = latency_ms / 1000
            settings = make_settings(tmp_path, **with_openai(fake, openai_max_retries=0))
            knowledge = KnowledgeBase(settings, KnowledgeRepository(db))
            await knowledge.start()
            agent = build_agent(settings, db, knowledge, RuntimeSettingsRepository(db))
            limited = build_agent(make_settings(tmp_path), db, knowledge, RuntimeSettingsRepository(db))

            prompt = build_system_prompt(knowledge.menu, knowledge.cafe)
            print(f"system prompt: {len(prompt)} characters ≈ {estimate_tokens(prompt)} tokens "
                  f"({len(knowledge.menu.items())} menu items)")

            llm = [await timed(agent, 10_000 + n, f"{QUESTIONS[n % 10]} (variant {n})", "llm") for n in range(turns)]
            for q in QUESTIONS:
                await agent.answer(1, q)  # stored in the exact cache
            cache = [await timed(agent, 20_000 + n, QUESTIONS[n % 10], "cache") for n in range(turns)]
            offline = [await timed(limited, 30_000 + n, QUESTIONS[n % 10], "offline") for n in range(turns)]
            fake.fail(500, times=BREAKER_FAILURES)
            failed = [await timed(agent, 40_000 + n, f"{QUESTIONS[n % 10]} please", "offline")
                      for n in range(BREAKER_FAILURES)]
            breaker_open = [await timed(agent, 50_000 + n, f"{QUESTIONS[n % 10]} thanks", "offline")
                            for n in range(turns)]
            for line in (figures("llm (fake model)", llm), figures("exact cache hit", cache),
                         figures("offline (limited)", offline), figures("fallback after 500", failed),
                         figures("fallback, breaker open", breaker_open)):
                print(line)
            print(f"model requests: {fake.request_count} (the open breaker made none)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated model latency")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the failures are on purpose
    asyncio.run(run(args.turns, args.latency_ms))


if __name__ == "__main__":
    main()
