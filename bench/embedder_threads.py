"""Single-question encoding latency with 1 vs 2 torch intra-op threads, idle and under load.

    .venv/bin/python bench/embedder_threads.py

Each setting runs in a fresh process (torch's thread count is per process). "Under load"
starts one busy Python process per core for the duration of the measurement, as a
2-core machine running the bot's event loop, Whisper and other workers would be.
The embedder's default (DEFAULT_TORCH_THREADS) follows from these figures.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["are you open on sunday", "how much is a large latte", "is the tomato soup vegan",
             "whats the wifi password", "do you have oat milk", "can i bring my dog"]


def child(threads: int, rounds: int) -> None:
    sys.path.insert(0, str(ROOT))
    from bot.semantic.embedder import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder(threads=threads)
    model.load()
    for q in QUESTIONS:
        model.encode([q])  # warm up
    samples = []
    for i in range(rounds):
        t0 = time.perf_counter()
        model.encode([QUESTIONS[i % len(QUESTIONS)]])
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    print(json.dumps({"p50": statistics.median(samples), "p95": samples[int(0.95 * len(samples)) - 1]}))


def burn(stop_at: float) -> None:
    while time.time() < stop_at:
        sum(i * i for i in range(10_000))


def measure(threads: int, loaded: bool, rounds: int = 150) -> dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    burners = []
    if loaded:
        stop_at = time.time() + 120
        burners = [multiprocessing.Process(target=burn, args=(stop_at,)) for _ in range(os.cpu_count() or 2)]
        for p in burners:
            p.start()
    try:
        out = subprocess.run([sys.executable, __file__, "--child", str(threads), str(rounds)], env=env,
                             capture_output=True, text=True, timeout=300, check=True).stdout
    finally:
        for p in burners:
            p.terminate()
            p.join()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    print(f"{os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.1f}")
    print("threads  condition    p50 ms   p95 ms")
    for loaded in (False, True):
        for threads in (1, 2):
            r = measure(threads, loaded)
            print(f"  {threads}      {'under load' if loaded else 'as is     '}  {r['p50']:7.1f}  {r['p95']:7.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
