"""Replay the labelled evaluation set through the real semantic cache and print its figures.

    .venv/bin/python bench/semantic_bench.py            # everything (one core, ~3 minutes)
    .venv/bin/python bench/semantic_bench.py --quick    # hit/wrong figures and sweep only

For each threshold the canonical question of every cluster is stored first (its
"answer" is the cluster id), then every paraphrase, hard negative and unsafe
question is looked up. A hit is right only for a paraphrase served its own
cluster's answer; a negative or unsafe question served anything, or a paraphrase
served another cluster's answer, is a wrong hit. Figures:

- paraphrase hit rate: right hits / paraphrases;
- wrong-hit rate: wrong hits / all lookups (and wrong hits / all hits);
- the threshold sweep, with each pair rule switched off in turn (what each guard buys);
- the same replay with 1,000 and 10,000 other entries in the cache (templated
  questions about every menu item, day, size and attribute: the near-duplicates that
  make semantic caches serve wrong answers), and lookup latency p50/p95 at those
  sizes, embedding included, pinned to one CPU core.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import asyncio
import itertools
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.knowledge.loader import load_menu  # noqa: E402
from bot.percentiles import percentile  # noqa: E402
from bot.semantic.cache import SemanticCache  # noqa: E402
from bot.semantic.embedder import SentenceTransformerEmbedder  # noqa: E402
from bot.semantic.guards import Reason, pair_rule  # noqa: E402
from bot.semantic.text import normalise_question  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.semantic import SemanticCacheRepository  # noqa: E402

EVAL_PATH = ROOT / "bench" / "data" / "semantic_eval.yaml"
RESULTS = ROOT / "bench" / "results"
SWEEP = [round(0.50 + 0.02 * i, 2) for i in range(24)]


@dataclass
class Case:
    text: str
    kind: str  # paraphrase | negative | unsafe
    cluster: str | None  # the right answer for a paraphrase


@dataclass
class EvalSet:
    clusters: list[dict[str, Any]]
    cases: list[Case]

    @classmethod
    def load(cls, path: Path = EVAL_PATH, ci_only: bool = False) -> EvalSet:
        raw = yaml.safe_load(path.read_text("utf-8"))
        clusters = [c for c in raw["clusters"] if c.get("ci") or not ci_only]
        cases: list[Case] = []
        for c in clusters:
            cases += [Case(p, "paraphrase", c["id"]) for p in c["paraphrases"]]
            cases += [Case(n, "negative", None) for n in c.get("negatives", [])]
        for group in raw.get("unsafe", {}).values():
            cases += [Case(q, "unsafe", None) for q in group]
        known = [c["canonical"] for c in raw["clusters"]] + [p for c in raw["clusters"] for p in c["paraphrases"]]
        clashes = {normalise_question(n.text) for n in cases if n.kind != "paraphrase"} & {
            normalise_question(q) for q in known
        }
        if clashes:
            raise SystemExit(f"{path}: negatives that are also a cluster's question: {sorted(clashes)}")
        return cls(clusters, cases)


def _holdout(cls: Any, data: EvalSet, path: Path = EVAL_PATH) -> EvalSet:
    raw = yaml.safe_load(path.read_text("utf-8"))
    known = {c["id"] for c in data.clusters}
    cases: list[Case] = []
    for group in raw.get("holdout", []):
        if group["cluster"] not in known:
            raise SystemExit(f"{path}: holdout names an unknown cluster {group['cluster']!r}")
        cases += [Case(p, "paraphrase", group["cluster"]) for p in group.get("paraphrases", [])]
        cases += [Case(n, "negative", None) for n in group.get("negatives", [])]
    return cls(data.clusters, cases)


EvalSet.load_holdout = classmethod(_holdout)  # type: ignore[attr-defined]


@dataclass
class Score:
    paraphrases: int = 0
    right: int = 0
    wrong: int = 0
    lookups: int = 0
    hits: int = 0
    wrong_cases: list[str] = field(default_factory=list)
    filler_hits: list[str] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        return self.right / self.paraphrases if self.paraphrases else 0.0

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.lookups if self.lookups else 0.0

    @property
    def wrong_among_hits(self) -> float:
        return self.wrong / self.hits if self.hits else 0.0


class MemoEmbedder:
    """The real embedder with a memo, so a sweep encodes every question once."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.memo: dict[str, np.ndarray] = {}

    def prime(self, texts: list[str]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        for text, vector in zip(todo, self.inner.encode(todo), strict=True):
            self.memo[text] = vector

    def encode(self, texts: list[str]) -> np.ndarray:
        self.prime(texts)
        return np.stack([self.memo[t] for t in texts])

    async def aencode(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


def without(rule: Reason) -> Any:
    """The pair rules with one of them switched off (what that rule buys)."""

    def check(question: Any, cached: Any) -> Reason | None:
        if rule != Reason.ENTITIES and question.entities != cached.entities:
            return Reason.ENTITIES
        if rule != Reason.ASPECT and not question.aspects <= cached.aspects:
            return Reason.ASPECT
        if rule != Reason.NEGATION and question.negated != cached.negated:
            return Reason.NEGATION
        if rule != Reason.UNKNOWN_WORD and (
            not set(question.unknown) <= set(cached.tokens) or not set(cached.unknown) <= set(question.tokens)
        ):
            return Reason.UNKNOWN_WORD
        return None

    return check


def no_pair_rules(question, cached):  # type: ignore[no-untyped-def]
    return None


async def make_cache(db: Database, embedder: Any, menu: Any, threshold: float, pair_check: Any = pair_rule,
                     max_entries: int = 50_000, anchored: float | None = None) -> SemanticCache:
    await db.execute("DELETE FROM semantic_cache")
    cache = SemanticCache(
        embedder=embedder, repo=SemanticCacheRepository(db), threshold=threshold, anchored_threshold=anchored,
        ttl_seconds=86400,
        max_entries=max_entries, prompt_version=lambda: "bench", llm_model="bench", menu=lambda: menu,
        pair_check=pair_check,
    )
    await cache.start()
    return cache


async def evaluate(db: Database, embedder: Any, menu: Any, threshold: float, data: EvalSet,
                   pair_check: Any = pair_rule, anchored: float | None = None) -> Score:
    """A fresh cache at this threshold, the set replayed through it, the cache stopped."""
    cache = await make_cache(db, embedder, menu, threshold, pair_check, anchored=anchored)
    try:
        return await replay(cache, data)
    finally:
        await cache.stop()


async def replay(cache: SemanticCache, data: EvalSet, fillers: list[str] | None = None,
                 timings: list[float] | None = None, cpu: list[float] | None = None) -> Score:
    if fillers:
        # Fillers go in straight (no duplicate check), as if many different customers had asked them.
        entries = await _filler_entries(cache, fillers)
        await cache.receive(entries)
    for cluster in data.clusters:
        await cache.store(cluster["canonical"], cluster["id"])
    score = Score()
    canonical = {c["canonical"] for c in data.clusters}
    for case in data.cases:
        t0, c0 = time.perf_counter(), time.process_time()
        hit = await cache.lookup(case.text)
        if timings is not None:
            timings.append((time.perf_counter() - t0) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1000)
        score.lookups += 1
        if case.kind == "paraphrase":
            score.paraphrases += 1
        if hit is None:
            continue
        score.hits += 1
        if case.kind == "paraphrase" and hit.answer == case.cluster:
            score.right += 1
        elif hit.question not in canonical:
            # A filler entry: the templated question names the same entities (they passed every
            # rule), so it is usually the same question ("caffè latte" / "latte"); listed to check by eye.
            score.filler_hits.append(f"{case.kind}: {case.text!r} ← {hit.question!r} ({hit.score:.3f})")
        else:
            score.wrong += 1
            score.wrong_cases.append(f"{case.kind}: {case.text!r} ← {hit.question!r} ({hit.score:.3f})")
    return score


async def _filler_entries(cache: SemanticCache, fillers: list[str]) -> list[Any]:
    from bot.semantic.cache import entry_key
    from storage.semantic import StoredEntry

    vectors = cache.embedder.encode(fillers)
    now = time.time()
    return [
        StoredEntry(key=entry_key(q, cache.generation), question=q, answer="filler", vector=v,
                    generation=cache.generation, source="chat", created_at=now, expires_at=now + 86400,
                    last_used_at=now)
        for q, v in zip(fillers, vectors, strict=True)
    ]


def filler_questions(menu: Any, data: EvalSet, count: int, seed: int = 7) -> list[str]:
    """Templated questions over the menu and the cafe: near-duplicates of everything in the set."""
    items = [i.name.lower() for i in menu.items()]
    diets = ["vegan", "vegetarian", "gluten-free", "dairy-free", "nut-free", "spicy", "halal", "organic"]
    allergens = ["nuts", "gluten", "milk", "eggs", "soy", "sesame", "celery", "mustard", "fish"]
    sizes = ["small", "large"]
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    templates = [
        *(f"is the {i} {d}?" for i in items for d in diets),
        *(f"does the {i} contain {a}?" for i in items for a in allergens),
        *(f"how much is a {s} {i}?" for i in items for s in sizes),
        *(f"can I get {n} {i} to take away?" for i in items for n in range(2, 7)),
        *(f"are you open on {d} at {h}?" for d in days for h in range(6, 23)),
        *(f"can I book a table for {n} on {d}?" for n in range(2, 13) for d in days),
        *(f"what goes well with the {a} and the {b}?" for a, b in itertools.permutations(items, 2)),
        *(f"can I swap the {a} for the {b}?" for a, b in itertools.permutations(items, 2)),
        *(f"can I get {n} {a} and {m} {b}?" for n in range(1, 4) for m in range(1, 4)
          for a, b in itertools.permutations(items, 2)),
    ]
    canon = {c["canonical"].lower() for c in data.clusters} | {c.text.lower() for c in data.cases}
    pool = [t for t in dict.fromkeys(templates) if t.lower() not in canon]
    random.Random(seed).shuffle(pool)
    if len(pool) < count:
        raise SystemExit(f"only {len(pool)} filler questions; wanted {count}")
    return pool[:count]


def load_fillers(memo: MemoEmbedder, fillers: list[str]) -> None:
    """Encode the fillers once and keep them in bench/results (they only depend on the texts and the model)."""
    import hashlib

    digest = hashlib.sha256(("\n".join(fillers) + memo.model_id).encode()).hexdigest()[:16]
    path = RESULTS / f"fillers-{digest}.npy"
    if path.exists():
        memo.memo.update(zip(fillers, np.load(path), strict=True))
        return
    print(f"\nencoding {len(fillers)} filler questions (once; kept in {path.name})...", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    memo.prime(fillers)
    print(f"  {len(fillers) / (time.process_time() - c0):.0f} questions/s of CPU time batched on one core "
          f"({time.perf_counter() - t0:.0f} s wall)")
    RESULTS.mkdir(exist_ok=True)
    np.save(path, np.stack([memo.memo[f] for f in fillers]))


def pick(grid: dict[tuple[float, float], Score], max_wrong_rate: float) -> tuple[float, float]:
    """Highest hit rate whose wrong-hit rate is within target there and two steps looser on either knob.

    The margin keeps the choice off the cliff edge of this particular set: a default that
    is only just safe here would not be safe on the next customer's wording.
    """
    def safe(base: float, anchor: float) -> bool:
        score = grid.get((round(base, 2), round(min(anchor, base), 2)))
        return score is not None and score.wrong_rate <= max_wrong_rate

    candidates = [
        (score.hit_rate, base, anchor) for (base, anchor), score in grid.items()
        if safe(base, anchor) and safe(base - 0.04, anchor) and safe(base, anchor - 0.04)
    ]
    if not candidates:
        return max(grid)
    _, base, anchor = max(candidates)
    return base, anchor


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sweep only: no 1k/10k replay and latency")
    parser.add_argument("--threshold", type=float, help="report at this threshold instead of the sweep's pick")
    parser.add_argument("--anchored", type=float, help="with --threshold: the anchored threshold")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one CPU core")
    parser.add_argument("--show-wrong", action="store_true", help="list every wrong hit of the sweep")
    args = parser.parse_args()
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    menu, _ = load_menu(ROOT / "data" / "menu.yaml")
    data = EvalSet.load()
    n_para = sum(c.kind == "paraphrase" for c in data.cases)
    n_neg = sum(c.kind == "negative" for c in data.cases)
    n_unsafe = sum(c.kind == "unsafe" for c in data.cases)
    print(f"evaluation set: {len(data.clusters)} clusters, {n_para} paraphrases, {n_neg} hard negatives, "
          f"{n_unsafe} unsafe (follow-up, personal, time-relative)")
    real = SentenceTransformerEmbedder(threads=1)
    memo = MemoEmbedder(real)
    memo.prime([c["canonical"] for c in data.clusters] + [c.text for c in data.cases])

    async with Database(":memory:") as db:
        print("\nthreshold sweep (wrong-hit rate = wrong hits / all lookups)")
        print("threshold  hit-rate  wrong  wrong-rate | without entity rule: hit wrong | without aspect rule: "
              "hit wrong | without negation rule: wrong | without unknown-word rule: hit wrong | "
              "without all: hit wrong")
        rows: list[tuple[float, Score]] = []
        for threshold in SWEEP:
            full = await evaluate(db, memo, menu, threshold, data)
            loose_e = await evaluate(db, memo, menu, threshold, data, without(Reason.ENTITIES))
            loose_a = await evaluate(db, memo, menu, threshold, data, without(Reason.ASPECT))
            loose_n = await evaluate(db, memo, menu, threshold, data, without(Reason.NEGATION))
            loose_u = await evaluate(db, memo, menu, threshold, data, without(Reason.UNKNOWN_WORD))
            loose = await evaluate(db, memo, menu, threshold, data, no_pair_rules)
            rows.append((threshold, full))
            print(f"  {threshold:.2f}     {full.hit_rate:6.1%}  {full.wrong:5d}  {full.wrong_rate:8.2%}  | "
                  f"{loose_e.hit_rate:19.1%} {loose_e.wrong:5d} | {loose_a.hit_rate:21.1%} {loose_a.wrong:5d} | "
                  f"{loose_n.wrong:28d} | {loose_u.hit_rate:25.1%} {loose_u.wrong:5d} | "
                  f"{loose.hit_rate:12.1%} {loose.wrong:5d}")
            if args.show_wrong:
                for line in full.wrong_cases:
                    print("      wrong:", line)
        print("\nanchored threshold sweep: similarity needed when both questions name the same menu item")
        print("(rows: threshold; columns: anchored threshold; cells: hit rate / wrong hits)")
        grid: dict[tuple[float, float], Score] = {}
        bases = [round(0.60 + 0.02 * i, 2) for i in range(16)]
        anchors = [round(0.40 + 0.02 * i, 2) for i in range(26)]
        for base in bases:
            for anchor in (a for a in anchors if a <= base):
                grid[(base, anchor)] = await evaluate(db, memo, menu, base, data, anchored=anchor)
        shown = [a for a in anchors if round(a * 100) % 8 == 0]
        print("        " + "".join(f"{a:>12.2f}" for a in shown))
        for base in bases[::2]:
            cells = [f"{grid[(base, a)].hit_rate:6.1%} /{grid[(base, a)].wrong:3d}" if (base, a) in grid else ""
                     for a in shown]
            print(f"  {base:.2f}" + "".join(f"{c:>12}" for c in cells))
        if args.threshold:
            chosen, anchored = args.threshold, args.anchored or args.threshold
        else:
            chosen, anchored = pick(grid, 0.005)
        final = await evaluate(db, memo, menu, chosen, data, anchored=anchored)
        print(f"\nchosen: threshold {chosen:.2f}, anchored threshold {anchored:.2f}: paraphrase hit rate "
              f"{final.hit_rate:.1%} ({final.right}/{final.paraphrases}), wrong hits {final.wrong}/{final.lookups} "
              f"lookups = {final.wrong_rate:.2%} ({final.wrong_among_hits:.2%} of hits)")
        for line in final.wrong_cases:
            print("  wrong:", line)
        baseline = await evaluate(db, memo, menu, chosen, data, no_pair_rules, anchored=anchored)
        print(f"same threshold without any pair rule: hit rate {baseline.hit_rate:.1%}, "
              f"wrong hits {baseline.wrong} = {baseline.wrong_rate:.2%} of lookups, "
              f"{baseline.wrong_among_hits:.1%} of hits")
        holdout = EvalSet.load_holdout(data)
        if holdout.cases:
            memo.prime([c.text for c in holdout.cases])
            held = await evaluate(db, memo, menu, chosen, holdout, anchored=anchored)
            print(f"held-out wording (the holdout section; see README): paraphrase hit rate {held.hit_rate:.1%} "
                  f"({held.right}/{held.paraphrases}), wrong hits {held.wrong}/{held.lookups} = {held.wrong_rate:.2%}")
            for line in held.wrong_cases:
                print("  wrong:", line)
        cache = await make_cache(db, memo, menu, chosen, anchored=anchored)
        await replay(cache, data)
        print("guard counters at the chosen threshold:", cache.stats.as_dict()["guards"])
        await cache.stop()
        if args.quick:
            return

        fillers = filler_questions(menu, data, 10_000)
        load_fillers(memo, fillers)
        for size in (1_000, 10_000):
            timed = await make_cache(db, real, menu, chosen, anchored=anchored)
            timed.embedder = memo  # fillers and canonicals from the memo...
            await replay(timed, EvalSet(data.clusters, []), fillers[:size])
            timed.embedder = real  # ...lookups embed for real, as in production
            timings: list[float] = []
            cpu: list[float] = []
            timed.stats = type(timed.stats)()  # count the replay's lookups only
            score = await replay(timed, data, timings=timings, cpu=cpu)
            print(f"\n{size:,} entries (+{len(data.clusters)} canonicals): hit rate {score.hit_rate:.1%}, "
                  f"wrong {score.wrong}/{score.lookups} = {score.wrong_rate:.2%}")
            print(f"  lookup latency incl. embedding, one core: wall p50 {percentile(sorted(timings), 50):.1f} ms, "
                  f"p95 {percentile(sorted(timings), 95):.1f} ms; CPU time p50 {percentile(sorted(cpu), 50):.1f} ms, "
                  f"p95 {percentile(sorted(cpu), 95):.1f} ms (n={len(timings)}; wall includes waiting for a busy core, "
                  f"load average {os.getloadavg()[0]:.1f})")
            for line in score.wrong_cases:
                print("  wrong:", line)
            print(f"  served from a filler entry: {len(score.filler_hits)} (same entities; listed to judge by eye)")
            for line in score.filler_hits:
                print("    filler:", line)
            q = real.encode(["how much is a large latte"])[0]
            t0 = time.perf_counter()
            for _ in range(200):
                timed._index.search(q, chosen, time.time())
            print(f"  search alone: {(time.perf_counter() - t0) / 200 * 1000:.2f} ms per lookup")
            embedded = timed.stats.lookups - timed.stats.rejections.get(Reason.NO_ENTRY, 0)
            print(f"  {embedded} of {timed.stats.lookups} lookups embedded the question (the others named entities "
                  "no entry has)")
            await timed.stop()


if __name__ == "__main__":
    asyncio.run(main())
