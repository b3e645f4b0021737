"""Time to the first visible model words, streamed (drafts) vs whole: `python -m bench.streaming [--questions N]`.

The real application in this process, the fake Bot API and a fake OpenAI-compatible model whose
first token comes after `--first-token-ms` (400) and which then writes `--chunk-chars` characters
every `--chunk-ms` (a ~4 s answer by default). Each question is new (no cache hit). The clock runs
from the moment the question is queued at the fake Bot API to:

- first words: the first `sendMessageDraft` (streamed) or the final message (whole);
- answer: the final `sendMessage` with the complete text.

Run once with drafts on (TELEGRAM_DRAFTS=true, the default) and once off (today's path before
drafts). Target: first words <= 1 s with a 400 ms first token.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.app import Application
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings, with_openai

CUSTOMER = 4242
TOPICS = ["espresso", "cappuccino", "flat white", "latte", "mocha", "americano", "cortado", "macchiato",
          "filter coffee", "cold brew", "chai", "matcha", "hot chocolate", "iced tea", "lemonade", "smoothie"]
ANSWER = ("Our house blend is a medium roast from Brazil and Ethiopia: chocolate, a little citrus, "
          "very smooth with oat milk. ") * 4


async def one_mode(drafts: bool, questions: int, first_token_ms: float, chunk_ms: float,
                   chunk_chars: int) -> tuple[list[float], list[float]]:
    first_words: list[float] = []
    answers: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram() as telegram, FakeOpenAI() as model:
            model.latency = first_token_ms / 1000
            model.chunk_delay = chunk_ms / 1000
            model.chunk_chars = chunk_chars

            def respond(_: dict[str, Any]) -> FakeReply:
                return FakeReply(content=ANSWER.strip())

            model.responder = respond
            settings = make_settings(Path(tmp), telegram.url, telegram_drafts=drafts,
                                     rate_limit_messages=1000, **with_openai(model, openai_timeout=30))
            app = Application(settings)
            await app.start()
            try:
                for n in range(questions):
                    sent_before, drafts_before = len(telegram.sent_to(CUSTOMER)), len(telegram.drafts_to(CUSTOMER))
                    asked = time.time()
                    topic = f"{TOPICS[n % len(TOPICS)]}{' please' * (n // len(TOPICS))}"  # never a cache hit
                    telegram.send_text(CUSTOMER, f"Tell me about your {topic}?")
                    [final] = await telegram.wait_for_messages(CUSTOMER, after=sent_before, timeout=60)
                    new_drafts = telegram.drafts_to(CUSTOMER)[drafts_before:]
                    shown = new_drafts[0].at if new_drafts else final.date
                    first_words.append((shown - asked) * 1000)
                    answers.append((final.date - asked) * 1000)
            finally:
                await app.stop()
    return first_words, answers


def line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{name:<34} n={len(samples):<3} p50={statistics.median(samples):7.0f} ms  p95={p95:7.0f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--first-token-ms", type=float, default=400)
    parser.add_argument("--chunk-ms", type=float, default=100)
    parser.add_argument("--chunk-chars", type=int, default=12)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"model: first token after {args.first_token_ms:.0f} ms, then {args.chunk_chars} characters every "
          f"{args.chunk_ms:.0f} ms ({len(ANSWER.strip())} characters)")
    for drafts in (False, True):  # each mode with its own fresh app, database and fake servers
        first, whole = await one_mode(drafts, args.questions, args.first_token_ms, args.chunk_ms, args.chunk_chars)
        label = "streamed (drafts)" if drafts else "whole (drafts off)"
        print(line(f"{label}: first visible words", first))
        print(line(f"{label}: complete answer", whole))


if __name__ == "__main__":
    asyncio.run(main())
