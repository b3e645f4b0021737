"""Where the resident memory goes: `python -m bench.memory [--questions N]`.

One process takes the steps the bot takes, in the bot's order, and reads its resident set size
(VmRSS, and the peak VmHWM) after each: the interpreter, the bot's own code with aiogram, openai,
aiohttp and redis, then the embedding model's libraries (CTranslate2 and tokenizers, the default; or
torch and sentence-transformers with `--backend sentence-transformers`), the model loaded and used, then
faster-whisper, the Whisper model loaded and used on the voice fixtures, and a full
semantic index. Each row is what that step added, so the table answers "what does X cost": a
step's libraries are counted where they are first imported. Figures differ by a few MB from run
to run (allocator arenas); the bot's own figures idle and under load are in bench/startup.py and
bench/load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000, help="entries of the semantic index to build")
    parser.add_argument("--backend", choices=("ctranslate2", "sentence-transformers"), default="ctranslate2",
                        help="EMBEDDING_BACKEND")
    args = parser.parse_args()

    rows: list[tuple[str, float, float, float]] = []
    last = rss_mb()[0]

    def step(name: str, action: Callable[[], object]) -> object:
        nonlocal last
        started = time.perf_counter()
        result = action()
        gc.collect()
        rss, peak = rss_mb()
        rows.append((name, rss - last, rss, peak))
        last = rss
        print(f"  {name}: +{rows[-1][1]:.0f} MB ({time.perf_counter() - started:.1f} s)", flush=True)
        return result

    rows.append(("interpreter", last, last, rss_mb()[1]))

    def bot_code() -> None:
        from bot.telegram.aiogram_import import import_aiogram

        import_aiogram()  # as `python main.py run` does: aiogram's models built when first used
        import bot.app  # noqa: F401  (aiogram, openai, aiohttp, redis, pydantic, prometheus, the bot's modules)

    step("bot code (aiogram, openai, aiohttp, redis, pydantic)", bot_code)
    from bot.semantic import Ct2Embedder, SentenceTransformerEmbedder
    from bot.semantic.embedder import BackgroundEmbedder

    embedder: BackgroundEmbedder
    if args.backend == "sentence-transformers":
        step("torch", lambda: __import__("torch"))
        step("sentence-transformers (transformers)", lambda: __import__("sentence_transformers"))
        embedder = SentenceTransformerEmbedder()
    else:
        step("CTranslate2 and tokenizers", lambda: (__import__("ctranslate2"), __import__("tokenizers")))
        embedder = Ct2Embedder()
    step("embedding model loaded (all-MiniLM-L6-v2)", embedder.load)
    questions = [f"do you have something number {i} on the menu today?" for i in range(args.questions)]
    vectors = step("embedding model used (one batch of 64)", lambda: embedder.encode(questions[:64]))
    step(f"semantic index vectors ({args.questions} questions)", lambda: embedder.encode(questions))
    step("faster-whisper (PyAV; CTranslate2 too if not imported yet)", lambda: __import__("faster_whisper"))

    from bot.voice.whisper import WhisperTranscriber
    from testkit.settings import make_settings
    from testkit.voice import fixture_bytes, speech_fixtures

    transcriber = WhisperTranscriber(make_settings(Path("/tmp")))
    step("Whisper model loaded (tiny.en, int8)", transcriber.load)

    async def transcribe_all() -> None:
        for fixture in speech_fixtures():
            await transcriber.transcribe(fixture_bytes(fixture.file))

    step("Whisper used (the voice fixtures)", lambda: asyncio.run(transcribe_all()))
    del vectors
    asyncio.run(transcriber.stop())
    asyncio.run(embedder.stop())

    print("\n| step | added (MB) | resident (MB) | peak (MB) |\n| --- | ---: | ---: | ---: |")
    for name, added, rss, peak in rows:
        print(f"| {name} | {added:.0f} | {rss:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
