"""A small word model of what customers say to this cafe, to choose among the decoder's sound-alike readings.

Whisper's beam search ends with several readings of a voice note that sound nearly the same ("do you still
have the yum and quasant" / "... the almond croissant", "soy milk from the cappuccino" / "... for the
cappuccino"), and the tiny model's own ranking of them is often a coin toss. Which one a customer of this
cafe meant is what a language model knows: `PhraseModel` is a trigram model (interpolated absolute
discounting) of the everyday patterns in `phrases_en.txt` with their slots filled from the menu and the cafe
facts in force, so "almond croissant" and "and a chai latte" are likely and "quasant" is a word it never
saw. bot/voice/decoding.py adds its log-probability, weighted, to the decoder's score of each reading.

Built from the `Slots` of a `Vocabulary` (bot/voice/vocabulary.py) the first time a note needs it, on the
speech worker's thread, and again after `/reload_menu` (a new vocabulary).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.semantic.text import fold

PATTERNS = Path(__file__).with_name("phrases_en.txt")
_SLOT = re.compile(r"\{(\w+?)\d?\}")
_DIGITS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
           "8": "eight", "9": "nine", "10": "ten", "11": "eleven", "12": "twelve"}
DISCOUNT = 0.75
# What a word the patterns never had costs, as a share of the unigram mass: low, so a reading made of
# unknown words ("quasant") loses to one of known words that sounds the same, but not so low that one
# unknown word (a name, "decaf") outweighs the decoder.
UNKNOWN = 1e-4

# Fillers that are the same for every cafe; the rest come from the menu and the facts.
NUMBERS = ("a", "one", "two", "three", "four")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "tomorrow",
        "the weekend", "saturday morning", "sunday afternoon")
TIMES = ("eight", "eight thirty", "nine", "half past nine", "ten o'clock", "eleven fifteen", "noon", "twelve",
         "one thirty", "two pm", "five")
SIZES = ("small", "regular", "medium", "large")
ALLERGENS = ("nuts", "gluten", "dairy", "milk", "eggs", "soy", "sesame")


def words(text: str) -> list[str]:
    """The words of a transcript as the model counts them: lower case without accents, no punctuation, "-"
    and "/" as spaces, digits as words."""
    folded = re.sub(r"[\-‐–—/&]", " ", fold(text))
    out = []
    for word in re.sub(r"[^\w\s']", " ", folded).split():
        word = word.strip("'")
        if word:
            out.append(_DIGITS.get(word, word))
    return out


@dataclass(frozen=True)
class Slots:
    """The fillers of the patterns' slots taken from the cafe's data (menu names, options, tags...)."""

    item: tuple[str, ...] = ()
    milk: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    size: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    allergen: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()

    def fillers(self) -> dict[str, tuple[str, ...]]:
        """Slot name -> its fillers: the cafe's, then the ones every cafe has; never empty."""
        merged = {
            "item": self.item, "milk": self.milk or ("milk",), "extra": self.extra or ("extra shot",),
            "size": self.size + SIZES, "tag": self.tag, "allergen": self.allergen + ALLERGENS,
            "category": self.category, "topic": self.topic, "number": NUMBERS, "day": DAYS, "time": TIMES,
        }
        return {name: tuple(dict.fromkeys(values)) or ("it",) for name, values in merged.items()}


def plural(name: str) -> str:
    return name if name.endswith("s") else (name + "es" if name.endswith(("ch", "sh")) else name + "s")


def sentences(patterns: Iterable[str], slots: Slots) -> Iterator[list[str]]:
    """Every pattern filled once per value of its largest slot, the other slots cycling at their own pace, so
    each filler meets each pattern and the count stays linear in the menu's size. Items come in the singular
    and the plural ("two flat whites"), as the patterns do not say which."""
    fillers = slots.fillers()
    fillers["item"] = fillers["item"] + tuple(plural(n) for n in fillers["item"])
    for pattern in patterns:
        names = _SLOT.findall(pattern)
        if not names:
            yield words(pattern)
            continue
        rounds = max(len(fillers.get(name, ("it",))) for name in names)
        pieces = _SLOT.split(pattern)  # text, slot name, text, slot name, ..., text
        for i in range(rounds):
            filled = list(pieces)
            for k in range(1, len(pieces), 2):
                values = fillers.get(pieces[k], ("it",))
                filled[k] = values[(i * k + k // 2) % len(values)]
            yield words("".join(filled))


def read_patterns(path: Path = PATTERNS) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


class _Next:
    """The words seen after one context, with their total: what interpolation needs of a context."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total = 0

    def add(self, word: str) -> None:
        self.counts[word] += 1
        self.total += 1

    def interpolate(self, word: str, lower: float) -> float:
        """Absolute discounting: the seen count less DISCOUNT, plus the discounted mass spread as `lower`."""
        seen = max(self.counts.get(word, 0) - DISCOUNT, 0.0)
        return (seen + DISCOUNT * len(self.counts) * lower) / self.total


class PhraseModel:
    """Trigram counts of the filled patterns and the log-probability of a word sequence under them."""

    def __init__(self, sentences_: Iterable[list[str]]) -> None:
        self._unigrams = _Next()
        self._bigrams: defaultdict[str, _Next] = defaultdict(_Next)
        self._trigrams: defaultdict[tuple[str, str], _Next] = defaultdict(_Next)
        for sentence in sentences_:
            padded = ["<s>", "<s>", *sentence, "</s>"]
            for i in range(2, len(padded)):
                self._unigrams.add(padded[i])
                self._bigrams[padded[i - 1]].add(padded[i])
                self._trigrams[(padded[i - 2], padded[i - 1])].add(padded[i])

    @classmethod
    def build(cls, slots: Slots, patterns: Iterable[str] | None = None) -> PhraseModel:
        return cls(sentences(read_patterns() if patterns is None else patterns, slots))

    def log_prob(self, text_words: list[str]) -> float:
        """Natural log-probability of the words as one utterance, its end included."""
        padded = ["<s>", "<s>", *text_words, "</s>"]
        total = 0.0
        for i in range(2, len(padded)):
            word = padded[i]
            known = self._unigrams.counts.get(word, 0)
            p = (1 - UNKNOWN) * known / self._unigrams.total if known else UNKNOWN
            if (bigram := self._bigrams.get(padded[i - 1])) is not None:
                p = bigram.interpolate(word, p)
            if (trigram := self._trigrams.get((padded[i - 2], padded[i - 1]))) is not None:
                p = trigram.interpolate(word, p)
            total += math.log(p)
        return total
