"""The semantic cache with the real model, real SQLite and real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis

from bot.cache import Cache
from bot.config import Settings
from bot.knowledge.loader import load_cafe, load_menu
from bot.knowledge.models import answers_version
from bot.semantic import Ct2Embedder, RedisShare, SemanticCache, load_faq, seed_faq
from bot.semantic.guards import Reason
from bot.semantic.sharing import Blocker, Provenance, Shareability, SharingPolicy
from storage.db import Database
from storage.semantic import SemanticCacheRepository
from testkit import ROOT
from testkit.servers import RedisServer
from tests.helpers import ManualClock

MENU, _ = load_menu(ROOT / "data" / "menu.yaml")
DEFAULTS = Settings.model_fields
START = 1_700_000_000.0  # the cache's clock: entry times are epoch seconds


@dataclass
class Ctx:
    """The agent's turn context, as far as the cache reads it."""

    user_id: int = 1
    share: Shareability | None = None  # None: the cache assesses the question alone
    provenance: Provenance | None = None
    prompt_version: str = "p1"
    menu_version: str | None = None
    model: str = "gpt-test"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "bot.db") as database:
        yield database


def make_cache(db: Database, embedder: Ct2Embedder, clock: Callable[[], float] | None = None,
               menu: Any = MENU, cafe: Any = None, **overrides: Any) -> SemanticCache:
    options: dict[str, Any] = {
        "threshold": DEFAULTS["semantic_cache_threshold"].default,
        "anchored_threshold": DEFAULTS["semantic_cache_anchored_threshold"].default,
        "ttl_seconds": 3600, "max_entries": 100,
    }
    options.update(overrides)
    return SemanticCache(embedder=embedder, repo=SemanticCacheRepository(db), prompt_version=lambda: "p1",
                         llm_model="gpt-test", menu=lambda: menu, cafe=lambda: cafe, clock=clock or ManualClock(START),
                         **options)


@pytest.fixture
async def cache(db: Database, embedder: Ct2Embedder) -> AsyncIterator[SemanticCache]:
    semantic = make_cache(db, embedder)
    await semantic.start()
    yield semantic
    await semantic.stop()


async def test_a_paraphrase_gets_the_stored_answer_and_a_hard_negative_does_not(cache: SemanticCache) -> None:
    assert await cache.store("Is the tomato soup vegan?", "No, it contains milk.", Ctx())
    hit = await cache.lookup("is ur tomato soup plant based", Ctx())
    assert hit is not None and hit.answer == "No, it contains milk."
    assert await cache.lookup("Is the lentil soup vegan?", Ctx()) is None
    assert await cache.lookup("Is the tomato soup gluten-free?", Ctx()) is None
    stats = cache.status()
    assert (stats["lookups"], stats["hits"], stats["misses"]) == (3, 1, 2)
    # No stored question names the lentil soup, or gluten: the entity rule's cheap path, no embedding.
    assert stats["rejections"] == {"no_entry": 2}
    assert stats["latency_ms"]["p95"] is not None


async def test_follow_ups_personal_and_clock_questions_are_neither_served_nor_stored(cache: SemanticCache) -> None:
    policy = SharingPolicy(lambda: MENU)
    await cache.store("How much is a large latte?", "€4.10", Ctx())
    in_dialog = policy.assess("how much is a large latte for me", has_history=True)  # the agent's assessment wins
    assert await cache.lookup("how much is a large latte for me", Ctx(share=in_dialog)) is None
    assert await cache.lookup("and how much is it?", Ctx()) is None
    assert await cache.lookup("what is my name?", Ctx()) is None
    assert not await cache.store("where is my order?", "On its way", Ctx())
    assert not await cache.store("Are you open today?", "Yes", Ctx())
    assert not await cache.store("Is the brownie vegan?", "Yes", Ctx(provenance=Provenance(tools_used=("show_cart",))))
    assert not await cache.store("Is the brownie vegan?", "Yes", Ctx(provenance=Provenance(history_sent=True)))
    assert await cache.lookup("Is the brownie vegan?", Ctx()) is None
    stats = cache.status()
    assert stats["bypassed"] == {"follow_up": 1, "personal": 1, "self_reference": 1}
    assert stats["store_skipped"] == {"personal": 1, "time_relative": 1, "tools": 1, "history": 1}
    assert stats["entries"] == 1


async def test_a_new_prompt_version_or_model_drops_old_entries(cache: SemanticCache, db: Database) -> None:
    await cache.store("Are dogs allowed?", "Yes, dogs are welcome.", Ctx())
    assert await cache.lookup("can i bring my dog", Ctx()) is not None
    assert await cache.lookup("can i bring my dog", Ctx(prompt_version="p2")) is None
    assert cache.status()["entries"] == 0 and cache.status()["dropped_stale"] == 1
    assert await db.fetchval("SELECT COUNT(*) FROM semantic_cache") == 0
    await cache.store("Are dogs allowed?", "Dogs welcome (p2).", Ctx(prompt_version="p2"))
    assert await cache.lookup("can i bring my dog", Ctx(prompt_version="p2", model="other-model")) is None


async def test_another_embedding_model_drops_old_entries_at_start(
    db: Database, embedder: Ct2Embedder
) -> None:
    first = make_cache(db, embedder)
    await first.start()
    await first.store("Do you have oat milk?", "Yes, +0.40.", Ctx())
    await first.stop()

    other = ColdEmbedder(embedder, model_id="another-model")
    other.loaded.set()
    second = make_cache(db, other)  # type: ignore[arg-type]
    await second.start()
    await second.wait_ready()
    assert second.status()["entries"] == 0
    assert await db.fetchval("SELECT COUNT(*) FROM semantic_cache") == 0
    assert await second.lookup("oat milk?", Ctx()) is None
    await second.stop()


async def test_a_menu_change_drops_old_entries(cache: SemanticCache, tmp_path: Path) -> None:
    await cache.store("How much is a flat white?", "€3.60", Ctx())
    text = (ROOT / "data" / "menu.yaml").read_text().replace("price: 3.60", "price: 3.70")
    (tmp_path / "menu.yaml").write_text(text)
    changed, _ = load_menu(tmp_path / "menu.yaml")

    class Knowledge:
        menu = changed

    await cache.on_knowledge_change(Knowledge())
    assert cache.generation.menu_version == answers_version(changed, None)
    assert await cache.lookup("flat white price?", Ctx()) is None
    assert cache.status()["entries"] == 0


async def test_entries_survive_a_restart_and_expire(db: Database, embedder: Ct2Embedder) -> None:
    clock = ManualClock(START)
    first = make_cache(db, embedder, clock)
    await first.start()
    await first.store("What's the wifi password?", "flatwhite2024", Ctx())
    await first.stop()

    second = make_cache(db, embedder, clock)
    await second.start()
    hit = await second.lookup("wifi password please", Ctx())
    assert hit is not None and hit.answer == "flatwhite2024"
    clock.now += 3601
    assert await second.lookup("wifi password please", Ctx()) is None
    await second.stop()


async def test_size_is_bounded_least_recently_used_goes_first_and_faq_seeds_last(
    db: Database, embedder: Ct2Embedder
) -> None:
    clock = ManualClock(START)
    cache = make_cache(db, embedder, clock, max_entries=3)
    await cache.start()
    await cache.store("Do you have high chairs?", "Yes", Ctx(), source="faq")
    for question in ("Is the brownie vegan?", "Is the porridge gluten-free?", "Do you have oat milk?"):
        clock.now += 10
        assert await cache.store(question, question.upper(), Ctx())
    assert cache.status()["entries"] == 3 and cache.status()["evictions"] == 1
    assert await cache.lookup("brownie vegan?", Ctx()) is None  # oldest chat entry went
    assert await cache.lookup("do you have high chairs", Ctx()) is not None  # the FAQ seed stayed
    assert await db.fetchval("SELECT COUNT(*) FROM semantic_cache") == 3
    await cache.stop()


async def test_faq_seeds_are_answered_once_and_stored(cache: SemanticCache) -> None:
    questions = load_faq(ROOT / "data" / "faq.yaml")
    assert len(questions) >= 20
    asked: list[str] = []

    async def answer(question: str) -> str:
        asked.append(question)
        return f"answer to {question}"

    assert await seed_faq(cache, questions[:5], answer) == 5
    assert await seed_faq(cache, questions[:5], answer) == 0  # already cached: no model calls
    assert len(asked) == 5
    hit = await cache.lookup("sunday hours?", Ctx())
    assert hit is not None and hit.answer == "answer to Are you open on Sunday?" and hit.source == "faq"


CAFE2, _ = load_menu(ROOT / "bench" / "data" / "cafe2" / "menu.yaml")
CAFE2_INFO, _ = load_cafe(ROOT / "bench" / "data" / "cafe2" / "cafe.yaml")
BUNDLED_INFO, _ = load_cafe(ROOT / "data" / "cafe.yaml")
CI_SETS = {  # cafe → (menu, facts, development set whose `ci: true` clusters the test replays)
    "bundled": (MENU, BUNDLED_INFO, ROOT / "bench" / "data" / "semantic_eval.yaml"),
    "cafe2": (CAFE2, CAFE2_INFO, ROOT / "bench" / "data" / "semantic_dev_cafe2.yaml"),
}
# Look-alikes the subset must hold, by the distinction that changes the answer (each is a negative there).
LOOK_ALIKES = {
    "bundled": {
        "open vs close": "What time do you close on Monday?", "day": "What are your opening hours on Wednesday?",
        "item": "Is the lentil soup vegan?", "attribute": "Is the tomato soup gluten-free?",
        "size": "How much is a small latte?", "number": "Can I reserve a table for 4 people?",
        "negation": "is the tomato soup not vegan",
    },
    "cafe2": {
        "open vs close": "What time do you open on Friday?", "day": "Are you open on Tuesdays?",
        "item": "is the falafel wrap gluten free", "attribute": "is the falafel vegan",
        "size": "how much is a regular latte", "number": "how much are two large lattes",
        "negation": "are the turkish eggs not spicy",
    },
}


@pytest.mark.parametrize("cafe", sorted(CI_SETS))
async def test_ci_subset_of_the_development_sets(db: Database, embedder: Ct2Embedder,
                                                 cafe: str) -> None:
    """The `ci` clusters of both development sets: most paraphrases hit, no look-alike or unsafe question does."""
    menu, info, path = CI_SETS[cafe]
    data = yaml.safe_load(path.read_text())
    clusters = [c for c in data["clusters"] if c.get("ci")]
    negatives = [q for c in clusters for q in c["negatives"]]
    assert len(clusters) >= 10 and set(LOOK_ALIKES[cafe].values()) <= set(negatives)
    cache = make_cache(db, embedder, menu=menu, cafe=info)
    await cache.start()
    try:
        for c in clusters:
            assert await cache.store(c["canonical"], c["id"], Ctx())
        right = paraphrases = 0
        wrong: list[str] = []
        for c in clusters:
            for question in c["paraphrases"]:
                paraphrases += 1
                hit = await cache.lookup(question, Ctx())
                right += hit is not None and hit.answer == c["id"]
                if hit is not None and hit.answer != c["id"]:
                    wrong.append(f"{question} <- {hit.question}")
        for question in negatives + [q for group in data.get("unsafe", {}).values() for q in group]:
            hit = await cache.lookup(question, Ctx())
            if hit is not None:
                wrong.append(f"{question} <- {hit.question}")
    finally:
        await cache.stop()
    assert wrong == []
    assert right / paraphrases >= 0.75, (right, paraphrases)


def test_the_model_word_table_tells_synonyms_from_words_that_change_the_answer(
        embedder: Ct2Embedder) -> None:
    """The bundled model's input embeddings: the threshold sits between the two kinds (development figures)."""
    from bot.semantic.words import WordSimilarity

    table = embedder.word_table()
    assert table is not None
    words = WordSimilarity(*table)
    for a, b in [("restroom", "toilet"), ("children", "kids"), ("pricing", "price"), ("beverage", "drink")]:
        assert words.similarity(a, b) >= words.threshold, (a, b)
    for a, b in [("heated", "outdoor"), ("deposit", "cash"), ("salford", "deliver"), ("bread", "gluten")]:
        assert words.similarity(a, b) < words.threshold, (a, b)


async def test_entries_are_shared_through_redis_and_lookups_survive_a_redis_outage(
    tmp_path: Path, embedder: Ct2Embedder, redis_server: RedisServer
) -> None:
    async with Database(tmp_path / "a.db") as db_a, Database(tmp_path / "b.db") as db_b:
        a, b = make_cache(db_a, embedder), make_cache(db_b, embedder)
        share_a = RedisShare(a, Redis.from_url(redis_server.url, socket_timeout=1), poll_seconds=0.05,
                             max_backoff_seconds=0.2)
        share_b = RedisShare(b, Redis.from_url(redis_server.url, socket_timeout=1), poll_seconds=0.05,
                             max_backoff_seconds=0.2)
        for part in (a, b, share_a, share_b):
            await part.start()
        await wait_for(lambda: share_a.status()["state"] == "ok" and share_b.status()["state"] == "ok")
        await a.store("Do you accept credit cards?", "Yes, all major cards.", Ctx())
        await wait_for(lambda: b.status()["entries"] == 1)
        hit = await b.lookup("do you guys take credit cards", Ctx())
        assert hit is not None and hit.answer == "Yes, all major cards."

        redis_server.stop()
        await wait_for(lambda: share_b.status()["state"] == "down")
        assert await b.lookup("do you take credit cards", Ctx()) is not None  # served from the local copy
        await b.store("Are dogs allowed?", "Dogs are welcome.", Ctx())  # queued while Redis is down
        assert share_b.status()["pending"] == 1

        redis_server.start()
        await wait_for(lambda: a.status()["entries"] == 2, timeout=20)
        hit = await a.lookup("can i bring my dog", Ctx())
        assert hit is not None and hit.answer == "Dogs are welcome."
        assert share_b.status()["pending"] == 0
        for part in (share_a, share_b, a, b):
            await part.stop()


async def test_a_new_process_reads_what_others_shared_before_it_started(
    tmp_path: Path, embedder: Ct2Embedder, redis_server: RedisServer
) -> None:
    async with Database(tmp_path / "a.db") as db_a, Database(tmp_path / "b.db") as db_b:
        a = make_cache(db_a, embedder)
        share_a = RedisShare(a, Redis.from_url(redis_server.url), poll_seconds=0.05)
        await a.start()
        await share_a.start()
        await wait_for(lambda: share_a.status()["state"] == "ok")
        await a.store("Is there parking nearby?", "Public parking 3 minutes away.", Ctx())
        await share_a.stop()
        await a.stop()

        b = make_cache(db_b, embedder)
        share_b = RedisShare(b, Redis.from_url(redis_server.url), poll_seconds=0.05)
        await b.start()
        await share_b.start()
        await wait_for(lambda: b.status()["entries"] == 1)
        assert await b.lookup("where can i park", Ctx()) is not None
        await share_b.stop()
        await b.stop()


@pytest.mark.parametrize("key_prefix", ["", "cafebot:"])
async def test_clear_prefix_semantic_empties_every_process_and_sharing_goes_on(
    tmp_path: Path, embedder: Ct2Embedder, redis_server: RedisServer, key_prefix: str
) -> None:
    """The runbook's `clear-prefix semantic:` reaches each process's local copy, not only Redis."""
    async with Database(tmp_path / "a.db") as db_a, Database(tmp_path / "b.db") as db_b:
        a, b = make_cache(db_a, embedder), make_cache(db_b, embedder)
        shares = [RedisShare(c, Redis.from_url(redis_server.url, socket_timeout=1), poll_seconds=0.05,
                             key_prefix=key_prefix) for c in (a, b)]
        keys = Cache(redis_server.url, warm_on_start=False, probe_interval=60.0,  # process a's cache service
                     key_prefix=key_prefix)
        keys.on_clear_prefix(a.on_cache_clear_prefix)
        for part in (a, b, *shares, keys):
            await part.start()
        await wait_for(lambda: all(share.status()["state"] == "ok" for share in shares))
        await a.store("Do you accept credit cards?", "Yes, all major cards.", Ctx())
        await wait_for(lambda: b.status()["entries"] == 1)
        raw = Redis.from_url(redis_server.url, decode_responses=True)
        streams = await raw.keys("*stream")
        await raw.aclose()
        assert len(streams) == 1 and streams[0].startswith(f"{key_prefix}semantic:")  # under the application's

        await keys.clear_prefix("user:")  # another namespace: the semantic entries stay
        assert a.status()["entries"] == 1
        await keys.clear_prefix("semantic:")
        assert a.status()["entries"] == 0
        await wait_for(lambda: b.status()["entries"] == 0)
        assert await b.lookup("do you take credit cards", Ctx()) is None

        await b.store("Are dogs allowed?", "Dogs are welcome.", Ctx())  # sharing goes on after the clear
        await wait_for(lambda: a.status()["entries"] == 1)
        for part in (keys, *shares, a, b):
            await part.stop()


class ColdEmbedder:
    """Unit-test stand-in for a model still loading (ready when the test says so), or another model."""

    def __init__(self, real: Ct2Embedder, model_id: str = "") -> None:
        self.real, self.model_id, self.loaded = real, model_id or real.model_id, asyncio.Event()

    @property
    def ready(self) -> bool:
        return self.loaded.is_set()

    @property
    def dim(self) -> int:
        return self.real.dim

    async def wait_ready(self) -> None:
        await self.loaded.wait()

    async def aencode(self, texts: list[str]) -> Any:
        return await self.real.aencode(texts)


async def test_lookups_wait_for_nothing_while_the_model_loads(
    db: Database, embedder: Ct2Embedder
) -> None:
    cold = ColdEmbedder(embedder)
    semantic = make_cache(db, cold)  # type: ignore[arg-type]
    await semantic.start()
    assert await semantic.lookup("Are you open on Sunday?", Ctx()) is None
    assert not await semantic.store("Are you open on Sunday?", "Yes, 9-16.", Ctx())
    assert semantic.status()["bypassed"] == {"warming_up": 1} and not semantic.status()["ready"]
    cold.loaded.set()
    await asyncio.wait_for(semantic.wait_ready(), 10)
    assert await semantic.store("Are you open on Sunday?", "Yes, 9-16.", Ctx())
    assert await semantic.lookup("sunday hours?", Ctx()) is not None
    await semantic.stop()


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_bypass_reasons_are_named() -> None:
    assert {r.value for r in Reason} >= {"entities", "aspect", "negation", "threshold", "warming_up"}
    assert {b.value for b in Blocker} >= {"follow_up", "personal", "time_relative", "history", "tools", "instruction"}
