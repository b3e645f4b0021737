"""Sharing benchmark: what "share only answers written without the dialog" costs in hits and model calls.

    python -m bench.sharing_bench [--customers 200] [--seed 1] [--faq]

The shared caches (exact and semantic) store a model answer for everyone only when the
model wrote it from the system prompt and the question alone (`bot.semantic.sharing`). So a
shareable question asked inside a dialog is answered with the customer's history and
not stored: option (a), the product. This replays one simulated day of customers through
three policies and counts what each costs:

- (a) the product as it is;
- (unsafe) the old policy: answers written with the dialog history are stored too
  (a wrapper around the agent's caches, in this file only, drops `history_sent` from the
  provenance before storing); the fill (a) gives up, and the leaks it would risk;
- (b) the alternative: on a mid-dialog miss of a shareable question the customer gets
  the answer written with their history, and a second, history-free model call (really
  made: `Agent.answer` for a fresh user id, so no history, then stored as the product
  stores any standalone answer) fills the caches. Its hits equal the unsafe policy's
  (same questions stored at the same moments), at one model call more per such miss.

Customers arrive one after another (the caches fill over time); each opens a dialog and
asks 1–5 questions (`--questions`): a paraphrase of one of the evaluation set's frequent
questions (bench/data/semantic_eval.yaml; cluster popularity Zipf-like, ranks shuffled
by the seed), a long-tail question (the set's hard negatives and templated questions over
the menu, rarely asked twice), a follow-up or a question about the asker (only after the
first turn), or a personal / time-relative one. The same sequence is replayed for every
policy, each on a fresh SQLite database and fresh caches.

The real agent (`build_agent`, exact cache in memory), the real semantic cache
(`build_semantic_cache`, the bundled embedding model, no Redis) and the fake
OpenAI-compatible server of the tests, answering at once. `--faq` first seeds
data/faq.yaml through the product's FAQ warmer (`seed_faq`); those model calls are shown
apart from the customers' turns.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import asyncio
import logging
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from bench.semantic_bench import EVAL_PATH, ROOT, EvalSet, MemoEmbedder, filler_questions
from bot.agent import Agent, AnswerCache, AnswerPipeline, CacheContext, CachedAnswer, build_agent
from bot.knowledge import KnowledgeBase
from bot.knowledge.loader import load_menu
from bot.semantic import SentenceTransformerEmbedder, build_semantic_cache
from bot.semantic.answers import FaqWarmer, SemanticAnswerCache
from bot.semantic.sharing import Provenance
from storage.db import Database
from storage.knowledge import KnowledgeRepository
from storage.runtime_settings import RuntimeSettingsRepository
from testkit.fakes.openai import FakeOpenAI
from testkit.settings import make_settings, with_openai

CUSTOMER_IDS = 100_000
SECOND_CALL_IDS = 900_000  # option (b)'s history-free calls: users that never had a dialog
LONG_TAIL_FILLERS = 3000

# Leaning on an earlier turn, or about the asker once they said who they are: asked only after the first turn.
EXTRA_FOLLOW_UPS = [
    "is it gluten-free?", "and how much is the large one?", "thanks!", "ok great", "and with oat milk?",
    "which cakes are safe for me?", "can I eat the brownie?", "I'm vegan, what can I have for breakfast?",
    "what would you recommend for me?", "I am allergic to nuts, which cakes can I have?",
]


class Kind(StrEnum):
    FREQUENT = "frequent"  # a paraphrase of an evaluation-set cluster
    LONG_TAIL = "long_tail"  # standalone, rarely repeated
    FOLLOW_UP = "follow_up"  # needs the earlier turns (or who the asker is): never shared
    UNSHAREABLE = "unshareable"  # personal or time-relative: never shared


class Policy(StrEnum):
    A = "(a) product"
    UNSAFE = "(unsafe) old"
    B = "(b) 2nd call"


DESCRIPTIONS = {
    Policy.A: "history-free answers only are stored",
    Policy.UNSAFE: "answers written with history stored too",
    Policy.B: "(a) + a history-free call per mid-dialog shareable miss",
}


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    kind: Kind


@dataclass
class Mix:
    """How a simulated customer talks (the command-line knobs)."""

    questions: list[float]  # weights of asking 1, 2, ... questions in one dialog
    zipf: float  # popularity of the cluster of rank r is proportional to 1 / r**zipf
    follow_up: float  # after the first turn: chance the next message is a follow-up
    unshareable: float  # otherwise: chance it is personal or time-relative
    long_tail: float  # otherwise: chance it is a long-tail question (else a frequent one)


@dataclass
class Result:
    policy: Policy
    turns: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    first_turns: int = 0
    first_hits: int = 0
    later_turns: int = 0
    later_hits: int = 0
    model_calls: int = 0  # requests the fake model received for the customers' turns (second calls included)
    mid_shareable: int = 0  # shareable questions asked after the first turn (the same in every policy)
    mid_dialog_misses: int = 0  # shareable questions asked mid-dialog that the model answered with history
    second_calls: int = 0
    seed_calls: int = 0
    seeded: int = 0
    seconds: float = 0.0

    @property
    def hits(self) -> int:
        return self.sources["cache"] + self.sources["semantic"]


class StoreDespiteHistory:
    """The old, unsafe policy, for this benchmark only: an answer written with the dialog is stored too.

    Everything else still applies (follow-ups, personal and time-relative questions, tools):
    only `Provenance.history_sent` is ignored, which is exactly what the product's rule adds.
    """

    def __init__(self, inner: AnswerCache) -> None:
        self.inner = inner
        self.name = inner.name

    async def lookup(self, question: str, ctx: CacheContext) -> CachedAnswer | None:
        return await self.inner.lookup(question, ctx)

    async def store(self, question: str, answer: str, ctx: CacheContext) -> None:
        await self.inner.store(question, answer, replace(ctx, provenance=replace(ctx.provenance, history_sent=False)))


def simulate(customers: int, seed: int, mix: Mix) -> list[list[Question]]:
    """The day's dialogs, in arrival order; the same for every policy."""
    rng = random.Random(seed)
    raw = yaml.safe_load(EVAL_PATH.read_text("utf-8"))
    wordings: dict[str, list[str]] = {c["id"]: [c["canonical"], *c["paraphrases"]] for c in raw["clusters"]}
    for group in raw.get("holdout", []):
        wordings[group["cluster"]] += group.get("paraphrases", [])
    ranked = list(wordings)
    rng.shuffle(ranked)  # popularity independent of the file's order (and of what the FAQ lists)
    popularity = [1 / (rank + 1) ** mix.zipf for rank in range(len(ranked))]
    menu, _ = load_menu(ROOT / "data" / "menu.yaml")
    negatives = [n for c in raw["clusters"] for n in c.get("negatives", [])]
    negatives += [n for group in raw.get("holdout", []) for n in group.get("negatives", [])]
    long_tail = negatives + filler_questions(menu, EvalSet.load(), LONG_TAIL_FILLERS, seed=seed)
    follow_ups = raw["unsafe"]["follow_up"] + EXTRA_FOLLOW_UPS
    unshareable = raw["unsafe"]["personal"] + raw["unsafe"]["time_relative"]

    def question(turn: int) -> Question:
        if turn > 0 and rng.random() < mix.follow_up:
            return Question(rng.choice(follow_ups), Kind.FOLLOW_UP)
        roll = rng.random()
        if roll < mix.unshareable:
            return Question(rng.choice(unshareable), Kind.UNSHAREABLE)
        if roll < mix.unshareable + mix.long_tail:
            return Question(rng.choice(long_tail), Kind.LONG_TAIL)
        cluster = rng.choices(ranked, popularity)[0]
        return Question(rng.choice(wordings[cluster]), Kind.FREQUENT)

    counts = range(1, len(mix.questions) + 1)
    return [[question(turn) for turn in range(rng.choices(counts, mix.questions)[0])] for _ in range(customers)]


def shareable_mid_dialog(agent: Agent, question: str) -> bool:
    """Would the product store this mid-dialog question's answer if the model had written it without history?"""
    return agent.sharing.assess(question, has_history=True).store_blocker(Provenance.standalone()) is None


async def run_policy(policy: Policy, dialogs: list[list[Question]], embedder: Any, fake: FakeOpenAI,
                     faq: bool) -> Result:
    """One policy over the day, on a fresh database and fresh caches."""
    result = Result(policy)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        async with Database(tmp_path / "bench.db") as db:
            settings = make_settings(tmp_path, **with_openai(fake, openai_max_retries=0),
                                     semantic_cache_enabled=True)
            knowledge = KnowledgeBase(settings, KnowledgeRepository(db))
            await knowledge.start()
            semantic, _ = build_semantic_cache(settings, db, knowledge, embedder=embedder)
            assert semantic is not None
            agent = build_agent(settings, db, knowledge, RuntimeSettingsRepository(db),
                                semantic=SemanticAnswerCache(semantic))
            await semantic.start()
            if policy is Policy.UNSAFE:
                agent.answers = AnswerPipeline([StoreDespiteHistory(stage) for stage in agent.answers.stages])
            try:
                if faq:
                    before = fake.request_count
                    result.seeded = await FaqWarmer(semantic, agent, knowledge, settings).warm()
                    result.seed_calls = fake.request_count - before
                before = fake.request_count
                for n, questions in enumerate(dialogs):
                    for turn, question in enumerate(questions):
                        reply = await agent.answer(CUSTOMER_IDS + n, question.text)
                        if reply.error_class is not None:
                            raise SystemExit(f"unexpected model failure: {reply.error_class}")
                        result.turns += 1
                        result.sources[reply.source] += 1
                        hit = reply.source in ("cache", "semantic")
                        if turn == 0:
                            result.first_turns += 1
                            result.first_hits += hit
                            continue
                        result.later_turns += 1
                        result.later_hits += hit
                        if not shareable_mid_dialog(agent, question.text):
                            continue
                        result.mid_shareable += 1
                        if reply.source != "llm":
                            continue
                        result.mid_dialog_misses += 1
                        if policy is Policy.B:
                            second = await agent.answer(SECOND_CALL_IDS + result.second_calls, question.text)
                            if second.source != "llm":
                                raise SystemExit(f"second call was served from {second.source}")
                            result.second_calls += 1
                result.model_calls = fake.request_count - before
            finally:
                await semantic.stop()
                await agent.stop()
            expected = result.sources["llm"] + result.second_calls
            if result.model_calls != expected:
                raise SystemExit(f"{policy}: {result.model_calls} model requests, expected {expected}")
    result.seconds = time.perf_counter() - started
    return result


def table(results: list[Result]) -> str:
    base = next(r for r in results if r.policy is Policy.A)
    mid_shareable = base.mid_shareable
    head = ("policy", "turns", "cache hits (exact/semantic)", "hit rate", "model calls", "model calls / 100 turns",
            "extra calls vs (a)")
    rows = [head]
    for r in results:
        rows.append((
            r.policy.value, str(r.turns), f"{r.hits} ({r.sources['cache']}/{r.sources['semantic']})",
            f"{r.hits / r.turns:.1%}", str(r.model_calls), f"{100 * r.model_calls / r.turns:.1f}",
            f"{r.model_calls - base.model_calls:+d}" if r is not base else "0",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    turns = base.turns
    lines += [
        "",
        f"shareable questions asked mid-dialog: {mid_shareable} of {turns} turns ({mid_shareable / turns:.1%})",
        f"  (a) answered with history, not stored: {base.mid_dialog_misses}",
    ]
    for r in results:
        if r.policy is Policy.UNSAFE:
            lines.append(f"  (unsafe) answered with history AND stored for everyone: {r.mid_dialog_misses}")
        if r.policy is Policy.B:
            lines.append(f"  (b) second, history-free model calls: {r.second_calls}")
    lines.append("hit rate on first questions / on later questions:")
    for r in results:
        lines.append(f"  {r.policy.value:<14} {r.first_hits / max(1, r.first_turns):6.1%} of {r.first_turns}"
                     f"  / {r.later_hits / max(1, r.later_turns):6.1%} of {r.later_turns}"
                     f"   ({DESCRIPTIONS[r.policy]}; {r.seconds:.0f} s)")
    if base.seed_calls:
        lines.append(f"FAQ seeding before the day (every policy): {base.seeded} seeds stored, "
                     f"{base.seed_calls} model calls (not in the table)")
    return "\n".join(lines)


async def run(args: argparse.Namespace, mix: Mix) -> None:
    dialogs = simulate(args.customers, args.seed, mix)
    kinds = Counter(q.kind for questions in dialogs for q in questions)
    total = sum(kinds.values())
    print(f"{args.customers} customers, {total} turns (seed {args.seed}, FAQ seeds {'on' if args.faq else 'off'}): "
          + ", ".join(f"{k.value} {kinds[k]} ({kinds[k] / total:.0%})" for k in Kind))
    real = SentenceTransformerEmbedder(threads=1)
    await real.wait_ready()
    embedder = MemoEmbedder(real)  # each distinct question is embedded once for all three policies
    try:
        async with FakeOpenAI() as fake:
            results = [await run_policy(policy, dialogs, embedder, fake, args.faq) for policy in Policy]
    finally:
        await real.stop()
    b, unsafe = results[2], results[1]
    if (b.sources["cache"], b.sources["semantic"]) != (unsafe.sources["cache"], unsafe.sources["semantic"]):
        print("note: (b) and (unsafe) hits differ")
    print()
    print(table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faq", action="store_true", help="seed data/faq.yaml into the semantic cache first")
    parser.add_argument("--questions", default="35,25,20,12,8",
                        help="weights of asking 1, 2, 3, ... questions per dialog (default 35,25,20,12,8)")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent over the clusters")
    parser.add_argument("--follow-up", type=float, default=0.25, help="after the first turn: share of follow-ups")
    parser.add_argument("--unshareable", type=float, default=0.05, help="share of personal/time-relative questions")
    parser.add_argument("--long-tail", type=float, default=0.25, help="share of long-tail questions")
    args = parser.parse_args()
    weights = [float(w) for w in args.questions.split(",")]
    if not weights or any(w < 0 for w in weights) or not any(weights):
        parser.error("--questions: comma-separated non-negative weights, at least one positive")
    if args.unshareable + args.long_tail > 1:
        parser.error("--unshareable + --long-tail must not exceed 1")
    logging.disable(logging.WARNING)
    asyncio.run(run(args, Mix(weights, args.zipf, args.follow_up, args.unshareable, args.long_tail)))


if __name__ == "__main__":
    main()
