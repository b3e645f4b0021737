"""The semantic cache: answers to frequent standalone questions, reused across paraphrases.

A lookup embeds the question, finds stored questions at or above the similarity
threshold and serves the best one that passes every rule in `guards.py`; a store
keeps a standalone, non-personal answer. Entries live in this process (a NumPy
index searched without any I/O), in SQLite (survive a restart) and, through
`shared.py`, in Redis, so every bot process sees what any of them stored; while
Redis is down lookups go on from the local copy.

Every entry belongs to a generation (prompt version, menu version, embedding model,
chat model). When any of them changes the old entries are neither served nor kept.

An admin can forget an entry (a bad answer): it leaves the index and SQLite here and,
through the share, in every other process. A forgotten key keeps a tombstone (the time it
was forgotten) for the entries' lifetime, so no version created up to then comes back —
not from another process's stream, nor from a SQLite copy after a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from bot.cache.keys import SEMANTIC as SEMANTIC_PREFIX
from bot.knowledge.models import answers_version
from bot.semantic.embedder import Embedder, LoadsInBackground, is_ready
from bot.semantic.entities import Analysis, Lexicon
from bot.semantic.guards import Reason, pair_rule
from bot.semantic.index import VectorIndex
from bot.semantic.sharing import CacheKind, Provenance, Shareability, assess
from bot.semantic.stats import SemanticStats
from bot.semantic.text import normalise_question
from bot.semantic.words import DEFAULT_WORD_THRESHOLD, WordSimilarity
from storage.semantic import Generation, SemanticCacheRepository, StoredEntry

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 4000
VECTOR_MEMO = 4096
DUPLICATE_SIMILARITY = 0.985  # a new question this close (same entities) to a stored one adds nothing
FLUSH_INTERVAL_SECONDS = 30.0
LOAD_RETRY_FIRST_SECONDS = 2.0  # an embedding model that failed to load is tried again after this, doubling
LOAD_RETRY_MAX_SECONDS = 300.0
WARM_TIMEOUT_SECONDS = 180.0  # the warmer gives up if the embedding model never loads
KEY_FORM = "key5"  # what is embedded (Analysis.key_text); a change drops entries embedded the old way


class SharedEntries(Protocol):
    """Where entries are shared with the other bot processes (Redis in production)."""

    async def publish(self, entry: StoredEntry) -> None: ...

    async def clear(self) -> None: ...

    async def forget(self, tombstones: Mapping[str, float]) -> None: ...

    def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SemanticHit:
    answer: str
    question: str  # the stored question whose answer is served
    score: float
    key: str
    source: str


@dataclass(slots=True)
class _Entry:
    stored: StoredEntry
    analysis: Analysis


class SemanticCache:
    def __init__(
        self,
        *,
        embedder: Embedder,
        repo: SemanticCacheRepository,
        threshold: float,
        anchored_threshold: float | None = None,
        ttl_seconds: float,
        max_entries: int,
        prompt_version: Callable[[], str],
        llm_model: str,
        menu: Callable[[], Any] | None = None,
        cafe: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.time,
        word_threshold: float | None = DEFAULT_WORD_THRESHOLD,
    ) -> None:
        self.embedder = embedder
        # The soft unknown-word rule's word table (`words.py`), from the model once it is loaded; None: the hard rule.
        self.word_threshold = word_threshold
        self.words: WordSimilarity | None = None
        self.threshold = threshold
        # Both questions name the same menu item (and pass every rule): the entity match already
        # carries most of the meaning, so less similarity is needed. Not for categories or cafe
        # attributes: "what coffees do you have" / "which coffee is cheapest" share far less.
        self.anchored_threshold = threshold if anchored_threshold is None else min(anchored_threshold, threshold)
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.stats = SemanticStats()
        self.shared: SharedEntries | None = None
        self._repo = repo
        self._prompt_version = prompt_version
        self._llm_model = llm_model
        self._menu = menu or (lambda: None)
        self._cafe = cafe or (lambda: None)
        self._clock = clock
        self._index = VectorIndex(embedder.dim) if is_ready(embedder) else VectorIndex(0)
        self._ready = asyncio.Event()
        self._loader: asyncio.Task[None] | None = None
        self._entries: dict[str, _Entry] = {}
        # Both read the menu, which is loaded only when the knowledge base starts: set in start().
        self._lexicon = Lexicon(None)  # the sharing policy's dictionary (when no turn context brings one)
        self._matcher = Lexicon(None, matching=True)  # the pair rules' key: the same plus the matcher's layer
        self._generation = Generation("", "", self.embedding_id, llm_model)
        self._lock = asyncio.Lock()
        self._uses: dict[str, tuple[float, int]] = {}
        # How many entries name each entity set: a question whose set no entry has cannot hit,
        # so it is not even embedded (most misses cost a dictionary lookup, not a model call).
        self._signatures: Counter[frozenset[Any]] = Counter()
        # Recent question vectors: a repeated question, or the store after a missed lookup, skips the model.
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._flusher: asyncio.Task[None] | None = None
        # Forgotten keys → the time up to which their versions stay forgotten (for ttl_seconds).
        self._forgotten: dict[str, float] = {}
        self.load_error: str | None = None  # the last failed model load, until one succeeds

    # --- lifetime -------------------------------------------------------------------------
    async def start(self) -> None:
        self._lexicon = Lexicon(self._menu())
        self._matcher = Lexicon(self._menu(), self._cafe(), matching=True)
        self._generation = self._default_generation()
        dropped = await self._repo.delete_other_generations(self._generation)
        await self._repo.delete_expired(self._clock())
        if dropped:
            log.info("semantic cache: %d entries of an older prompt, menu or model dropped", dropped)
        if is_ready(self.embedder):
            await self._become_ready()
        # Otherwise the model loads in the background on first need (the FAQ warmup at start,
        # or the first question); until then every question simply goes to the model.
        self._flusher = asyncio.create_task(self._flush_loop(), name="semantic-cache-flush")

    async def warm(self) -> int:
        """The warmer of `warmup-menu`: the model loaded and run once, this menu's entries in; returns how many.

        Without it the model loads on the first question, which (and every question until
        it is in, several seconds on a busy machine) goes to the model instead of the cache.
        """
        await asyncio.wait_for(self.wait_ready(), WARM_TIMEOUT_SECONDS)
        await self._ensure_generation(None)
        await self.embedder.aencode([self.embedding_text("are you open on sunday")])  # torch's first-call costs
        return len(self._entries)

    async def wait_ready(self, *, load: bool = True) -> None:
        """Until the model is loaded and the entries are in; `load=False` waits without asking for it."""
        if load:
            self._load_soon()
        await self._ready.wait()

    def _load_soon(self) -> None:
        if self._loader is None and not self._ready.is_set():
            self._loader = asyncio.create_task(self._load_when_ready(), name="semantic-cache-load")

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def embedding_id(self) -> str:
        """The model and the form of text it embeds: vectors of another model or key form never mix."""
        return f"{self.embedder.model_id}+{KEY_FORM}"

    async def stop(self) -> None:
        for task in (self._loader, self._flusher):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        self._loader = self._flusher = None
        if self._ready.is_set():
            await self._flush_uses()

    async def _load_when_ready(self) -> None:
        """Load the model; a failure is retried by itself (2 s doubling to 5 min), questions go to the model."""
        delay = LOAD_RETRY_FIRST_SECONDS
        while True:
            try:
                if isinstance(self.embedder, LoadsInBackground):  # else always ready (never gets here)
                    await self.embedder.wait_ready()
                break
            except Exception as exc:
                self.load_error = f"{type(exc).__name__}: {exc}"[:200]
                log.exception("semantic cache: the embedding model failed to load; questions go to the model "
                              "meanwhile; trying again in %.0f s", delay)
                self.stats.errors += 1
                await asyncio.sleep(delay)
                delay = min(LOAD_RETRY_MAX_SECONDS, delay * 2)
        if self.load_error is not None:
            log.warning("semantic cache: the embedding model loaded after earlier failures")
            self.load_error = None
        await self._become_ready()

    async def _become_ready(self) -> None:
        self._index = VectorIndex(self.embedder.dim)
        word_table = getattr(self.embedder, "word_table", None)
        table = word_table() if callable(word_table) and self.word_threshold is not None else None
        self.words = None
        if table is not None and self.word_threshold is not None:
            pieces, matrix = table
            self.words = WordSimilarity(pieces, matrix, threshold=self.word_threshold)
        await self._load()
        self._ready.set()
        log.info("semantic cache ready: %d entries (%s)", len(self._entries), self._generation.label())

    async def on_knowledge_change(self, knowledge: Any) -> None:
        """The menu changed: a new dictionary and a new generation (old answers may be wrong now)."""
        self._lexicon = Lexicon(knowledge.menu)
        self._matcher = Lexicon(knowledge.menu, getattr(knowledge, "cafe", None), matching=True)
        await self._switch(replace(self._default_generation(),
                                   menu_version=answers_version(knowledge.menu, getattr(knowledge, "cafe", None))))

    # --- the two operations -----------------------------------------------------------------
    async def lookup(self, question: str, ctx: Any = None) -> SemanticHit | None:
        """The cached answer for this question, or None (miss, or the question may not use the cache)."""
        started = time.perf_counter()
        bypass, analysis, vector = await self._prepare(question, ctx)
        if bypass is not None:
            self.stats.bypassed[bypass] += 1
            return None
        self.stats.lookups += 1
        hit: SemanticHit | None = None
        reason: str | None = Reason.NO_ENTRY
        if vector is not None:
            hit, reason = self._best(analysis, vector)
        if hit is None:
            self.stats.misses += 1
            self.stats.rejections[reason or Reason.THRESHOLD] += 1
        else:
            self.stats.hits += 1
            now = self._clock()
            self._index.touch(hit.key, now)
            _, count = self._uses.get(hit.key, (now, 0))
            self._uses[hit.key] = (now, count + 1)
        self.stats.observe(time.perf_counter() - started)
        return hit

    async def _prepare(self, question: str, ctx: Any) -> tuple[str | None, Analysis, np.ndarray | None]:
        """(why the cache may not be used, the question's analysis, its vector or None when no entry can match)."""
        share = self._share(question, ctx)
        reason: str | None = share.serve_blocker(CacheKind.SEMANTIC)
        analysis = self._matcher.analyse(question)
        if reason is None and not self._ready.is_set():
            self._load_soon()
            reason = Reason.WARMING_UP
        if reason is not None:
            return reason, analysis, None
        await self._ensure_generation(ctx)
        if not self._may_match(analysis):
            return None, analysis, None
        try:
            return None, analysis, await self._vector(analysis.key_text or question)
        except Exception:
            log.exception("semantic cache: embedding failed; treating as a miss")
            self.stats.errors += 1
            return None, analysis, None

    async def store(self, question: str, answer: str, ctx: Any = None, *, source: str = "chat") -> bool:
        """Keep an answer for later paraphrases; False when a rule says it must not be shared."""
        answer = answer.strip()
        share = self._share(question, ctx)
        analysis = self._matcher.analyse(question)
        provenance = getattr(ctx, "provenance", None) or Provenance.standalone()
        reason: str | None = share.store_blocker(provenance, CacheKind.SEMANTIC)
        if reason is None and not self._ready.is_set():
            reason = Reason.WARMING_UP
        if reason is None and not answer:
            reason = "empty_answer"
        if reason is None and len(answer) > MAX_ANSWER_CHARS:
            reason = "answer_too_long"
        if reason is not None:
            self.stats.store_skipped[str(reason)] += 1
            return False
        await self._ensure_generation(ctx)
        generation = self._generation
        try:
            vector = await self._vector(analysis.key_text or question)
        except Exception:
            log.exception("semantic cache: embedding failed; answer not stored")
            self.stats.errors += 1
            return False
        key = entry_key(question, generation)
        if key not in self._entries:
            for other_key, score in self._index.search(vector, DUPLICATE_SIMILARITY, self._clock(), limit=4):
                if pair_rule(analysis, self._entries[other_key].analysis, self.words) is None:
                    self.stats.store_skipped["duplicate"] += 1
                    log.debug("semantic cache: %r duplicates %r (%.3f)", question, other_key, score)
                    return False
        now = self._clock()
        entry = StoredEntry(
            key=key, question=question.strip(), answer=answer, vector=vector.astype(np.float32),
            generation=generation, source=source, created_at=now, expires_at=now + self.ttl_seconds,
            last_used_at=now,
        )
        async with self._lock:
            if generation != self._generation:
                return False  # the generation changed while we were encoding
            self._add(entry, analysis)
            await self._repo.upsert([entry])
            await self._evict()
        self.stats.stores += 1
        if self.shared is not None:
            await self.shared.publish(entry)
        return True

    # --- what other processes shared -------------------------------------------------------------
    async def receive(self, entries: list[StoredEntry]) -> int:
        """Entries another process stored (from Redis): serve them from now on, keep them locally."""
        if not self._ready.is_set():
            return 0
        now = self._clock()
        fresh = [
            e for e in entries
            if e.generation == self._generation and e.expires_at > now and e.key not in self._entries
            and e.vector.shape == (self.embedder.dim,) and not self._is_forgotten(e)
        ]
        if not fresh:
            return 0
        async with self._lock:
            for entry in fresh:
                self._add(entry, self._matcher.analyse(entry.question))
            await self._repo.insert_new(fresh)
            await self._evict()
        return len(fresh)

    def local_entries(self) -> list[StoredEntry]:
        return [e.stored for e in self._entries.values()]

    # --- forgetting a bad answer -------------------------------------------------------------------
    async def forget(self, keys: Collection[str]) -> int:
        """Remove entries here and in SQLite, and tell every other process; how many were here.

        The tombstone's time is now, or the entry's own creation time when that is later (the
        process that stored it may run a clock ahead of ours), so this version is gone everywhere
        while an answer stored again afterwards is shared as usual.
        """
        now = self._clock()
        async with self._lock:
            tombstones = {}
            for key in keys:
                entry = self._entries.get(key)
                tombstones[key] = max(now, entry.stored.created_at) if entry is not None else now
            removed = await self._apply_forgotten_locked(tombstones)
        self.stats.forgotten += removed
        log.info("semantic cache: forgot %d entries (%d were here)", len(tombstones), removed)
        if self.shared is not None:
            await self.shared.forget(tombstones)
        return removed

    async def apply_forgotten(self, tombstones: Mapping[str, float]) -> int:
        """Entries another process forgot (live, or learnt after a restart or an outage): drop the
        versions created up to each time, here and in SQLite, and refuse them from now on."""
        async with self._lock:
            removed = await self._apply_forgotten_locked(tombstones)
        self.stats.forgotten += removed
        return removed

    async def _apply_forgotten_locked(self, tombstones: Mapping[str, float]) -> int:
        oldest = self._clock() - self.ttl_seconds  # older tombstones cannot match a live entry
        for key, when in tombstones.items():
            if when > self._forgotten.get(key, float("-inf")):
                self._forgotten[key] = when
        for key in [k for k, when in self._forgotten.items() if when < oldest]:
            del self._forgotten[key]
        removed = 0
        for key, when in tombstones.items():
            entry = self._entries.get(key)
            if entry is not None and entry.stored.created_at <= when:
                self._index.remove(key)
                self._forget(key)
                removed += 1
        await self._repo.delete_created_until(tombstones.items())
        return removed

    def _is_forgotten(self, entry: StoredEntry) -> bool:
        when = self._forgotten.get(entry.key)
        return when is not None and entry.created_at <= when

    @property
    def generation(self) -> Generation:
        return self._generation

    async def clear(self, *, local_only: bool = False) -> int:
        """Forget every entry (admin clear), in every process unless `local_only`; FAQ seeds return on warmup."""
        async with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._index.clear()
            self._uses.clear()
            self._signatures.clear()
            await self._repo.delete_all()
        if not local_only and self.shared is not None:
            await self.shared.clear()
        return count

    async def on_cache_clear_prefix(self, prefix: str) -> None:
        """An operator's clear-prefix that covers `semantic:` also empties every process's local index.

        Runs after the cache deleted the keys (the shared stream among them), so the clear
        marker `clear()` posts starts a fresh stream that the other processes then read.
        """
        if not (SEMANTIC_PREFIX.startswith(prefix) or prefix.startswith(SEMANTIC_PREFIX)):
            return
        removed = await self.clear()
        log.info("semantic cache: clear-prefix %r removed %d local entries in every process", prefix, removed)

    def has(self, question: str, ctx: Any = None) -> bool:
        """Whether exactly this question (normalised) is stored, for the generation `ctx` names."""
        return entry_key(question, self._wanted_generation(ctx)) in self._entries

    def analyse(self, question: str) -> Analysis:
        """The question as the pair rules see it (the matcher's key)."""
        return self._matcher.analyse(question)

    def embedding_text(self, question: str) -> str:
        """What is embedded for a question: its key text, every dictionary phrase replaced by its entity's name.

        "where's the loo" and "is there a restroom" become "where the toilet" and "is there a
        toilet", so the model compares the questions and not the cafe's synonyms.
        """
        return self._matcher.analyse(question).key_text or question.strip()

    def _share(self, question: str, ctx: Any) -> Shareability:
        """The agent's assessment of this turn; without one (FAQ seeds, benchmarks) the question alone."""
        share = getattr(ctx, "share", None)
        return share if isinstance(share, Shareability) else assess(self._lexicon.analyse(question))

    def status(self) -> dict[str, Any]:
        """The semantic block of GET /api/cache, GET /api/agent/chat and /cache."""
        data = {
            "enabled": True,
            "ready": self._ready.is_set(),
            "entries": len(self._entries),
            "max_entries": self.max_entries,
            "threshold": self.threshold,
            "anchored_threshold": self.anchored_threshold,
            "ttl_seconds": self.ttl_seconds,
            "embedding_model": self.embedder.model_id,
            "generation": {
                "prompt_version": self._generation.prompt_version,
                "menu_version": self._generation.menu_version,
                "llm_model": self._generation.llm_model,
            },
            **self.stats.as_dict(),
        }
        data["shared"] = self.shared.status() if self.shared is not None else {"state": "disabled"}
        return data

    # --- internals ----------------------------------------------------------------------------
    def _best(self, analysis: Analysis, vector: np.ndarray) -> tuple[SemanticHit | None, Reason | None]:
        candidates = self.candidates(analysis, vector, self.anchored_threshold)
        chosen, reason = decide(candidates, self.threshold, self.anchored_threshold)
        if chosen is None:
            return None, reason
        stored = self._entries[chosen.key].stored
        return SemanticHit(stored.answer, stored.question, chosen.score, chosen.key, stored.source), None

    def candidates(self, analysis: Analysis, vector: np.ndarray, floor: float) -> Iterator[Candidate]:
        """Stored questions at or above `floor` (a lookup: the anchored threshold), best first, each judged.

        Lazy: the lookup stops at the first that may be served.
        """
        for key, score in self._index.search(vector, floor, self._clock()):
            cached = self._entries[key].analysis
            yield Candidate(key, score, self._pair_reason(analysis, cached), anchors(analysis, cached))

    def _pair_reason(self, question: Analysis, cached: Analysis) -> Reason | None:
        """Why this stored question's answer does not answer the question: the pair rules (`guards.py`)."""
        return pair_rule(question, cached, self.words)

    def _may_match(self, analysis: Analysis) -> bool:
        """Whether any entry could answer this question at all, before it is embedded.

        The pair rules demand the same entities, so a question whose entity set no entry
        names cannot hit: most misses cost this dictionary lookup instead of a model call.
        """
        return analysis.entities in self._signatures

    async def _vector(self, question: str) -> np.ndarray:
        key = question.strip()
        vector = self._vectors.get(key)
        if vector is None:
            vector = (await self.embedder.aencode([question]))[0]
            self._vectors[key] = vector
            if len(self._vectors) > VECTOR_MEMO:
                self._vectors.popitem(last=False)
        else:
            self._vectors.move_to_end(key)
        return vector

    def _add(self, entry: StoredEntry, analysis: Analysis) -> None:
        old = self._entries.get(entry.key)
        if old is not None:
            self._signatures[old.analysis.entities] -= 1
        self._signatures[analysis.entities] += 1
        self._entries[entry.key] = _Entry(entry, analysis)
        self._index.add(entry.key, entry.vector, entry.expires_at, entry.last_used_at, pinned=entry.source == "faq")

    async def _evict(self) -> None:
        """Expired entries first, then the least recently used beyond MAX_ENTRIES (FAQ seeds last)."""
        now = self._clock()
        expired = self._index.expired(now)
        overflow = len(self._entries) - len(expired) - self.max_entries
        victims = expired + [k for k in self._index.eviction_order(overflow + len(expired)) if k not in expired]
        victims = victims[: len(expired) + max(0, overflow)]
        if not victims:
            return
        for key in victims:
            self._index.remove(key)
            self._forget(key)
        self.stats.expired += len(expired)
        self.stats.evictions += len(victims) - len(expired)
        await self._repo.delete(victims)

    def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        self._uses.pop(key, None)
        if entry is not None:
            self._signatures[entry.analysis.entities] -= 1
            if self._signatures[entry.analysis.entities] <= 0:
                del self._signatures[entry.analysis.entities]

    def _default_generation(self) -> Generation:
        menu = self._menu()
        return Generation(
            prompt_version=self._prompt_version(),
            menu_version=answers_version(menu, self._cafe()),
            embedding_model=self.embedding_id,
            llm_model=self._llm_model,
        )

    def _wanted_generation(self, ctx: Any) -> Generation:
        """The generation a question is asked under: the agent's context says which prompt, menu and model."""
        if ctx is None:
            return replace(self._default_generation(), menu_version=self._generation.menu_version)
        return Generation(
            prompt_version=str(getattr(ctx, "prompt_version", None) or self._prompt_version()),
            menu_version=str(getattr(ctx, "menu_version", None) or self._generation.menu_version),
            embedding_model=self.embedding_id,
            llm_model=str(getattr(ctx, "model", None) or self._llm_model),
        )

    async def _ensure_generation(self, ctx: Any) -> None:
        wanted = self._wanted_generation(ctx)
        if wanted != self._generation:
            await self._switch(wanted)

    async def _switch(self, generation: Generation) -> None:
        async with self._lock:
            if generation == self._generation:
                return
            dropped = len(self._entries)
            log.info("semantic cache: generation changed (%s → %s); %d entries dropped",
                     self._generation.label(), generation.label(), dropped)
            self._generation = generation
            self._entries.clear()
            self._index.clear()
            self._uses.clear()
            self._signatures.clear()
            self.stats.dropped_stale += dropped
            await self._repo.delete_other_generations(generation)
            await self._load_locked()

    async def _load(self) -> None:
        async with self._lock:
            await self._load_locked()

    async def _load_locked(self) -> None:
        for entry in await self._repo.load(self._generation, self._clock()):
            if entry.vector.shape == (self.embedder.dim,) and not self._is_forgotten(entry):
                self._add(entry, self._matcher.analyse(entry.question))
        await self._evict()

    async def _flush_uses(self) -> None:
        if not self._uses:
            return
        uses, self._uses = self._uses, {}
        try:
            await self._repo.record_use((k, last, count) for k, (last, count) in uses.items())
        except Exception:
            log.exception("semantic cache: recording entry use failed")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
            if not self._ready.is_set():
                continue
            try:
                await self._flush_uses()
                async with self._lock:
                    await self._evict()
                    await self._repo.delete_expired(self._clock())
            except Exception:
                log.exception("semantic cache: housekeeping failed")
                self.stats.errors += 1


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    score: float
    reason: Reason | None  # what the pair rules say (None: nothing against it but similarity)
    anchored: bool  # both name the same key precisely enough for the lower threshold


def decide(candidates: Iterable[Candidate], threshold: float, anchored_threshold: float
           ) -> tuple[Candidate | None, Reason]:
    """The first candidate the rules and thresholds allow, or the reason the best one was refused."""
    first_reason: Reason | None = None
    for c in candidates:
        if c.score < anchored_threshold:
            break
        reason = c.reason
        if c.score < threshold and (reason is not None or not c.anchored):
            reason = Reason.THRESHOLD  # a rule only "rejects" what similarity alone would have served
        if reason is None:
            return c, Reason.THRESHOLD
        first_reason = first_reason or reason
    return None, first_reason or Reason.THRESHOLD


def anchors(question: Analysis, cached: Analysis) -> bool:
    """Both questions name the same menu item (and so the same key): less similarity is needed."""
    return question.names_item and question.entities == cached.entities


def entry_key(question: str, generation: Generation) -> str:
    """Same normalised question under the same generation → same key (in every process)."""
    material = "\x1f".join((normalise_question(question), generation.label()))
    return hashlib.sha256(material.encode()).hexdigest()[:32]
