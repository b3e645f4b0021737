"""Word-level normalisation shared by the entity extractor and the guards.

Customers type "r u open sundays", "Caffè Latte", "gluten-free", "don't", "5pm" and
"wi-fi"; voice transcripts have no punctuation and spell numbers out. Everything is
reduced to lower-case ASCII word tokens with contractions expanded, hyphenated words
split, times split into number and am/pm, and a light singular form (`stem`) so
"lattes", "sundays" and "tomatoes" meet "latte", "sunday" and "tomato".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CONTRACTIONS = (
    (re.compile(r"\bcan'?t\b"), "can not"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\bain'?t\b"), "is not"),
    (re.compile(r"\b(do|does|did|is|are|was|were|have|has|had|could|would|should|must)n'?t\b"), r"\1 not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'(s|re|m|ll|ve|d)\b"), ""),
)
_TIME = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?\b")
_CLOCK = re.compile(r"\b(\d{1,2})[.:](\d{2})\b")
_CURRENCY = re.compile(r"[€$£]")
_TOKEN = re.compile(r"\d{1,2}:\d{2}|[a-z0-9]+")

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "dozen": 12, "couple": 2,
}


def fold(text: str) -> str:
    """Lower-case ASCII: accents dropped ("Caffè" → "caffe"), curly quotes made straight."""
    text = text.replace("’", "'").replace("‘", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def tokens(text: str) -> list[str]:
    """Word tokens: contractions expanded, "5pm" → ["5", "pm"], "8.30" → "8:30", "€" → "euro"."""
    text = fold(text)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _TIME.sub(lambda m: f" {m.group(1)}{':' + m.group(2) if m.group(2) else ''} {m.group(3)}m ", text)
    text = _CLOCK.sub(lambda m: f" {int(m.group(1))}:{m.group(2)} ", text)
    text = _CURRENCY.sub(" euro ", text)
    return _TOKEN.findall(text)


@lru_cache(maxsize=8192)
def stem(token: str) -> str:
    """A light singular: enough for menus and weekdays, never a full stemmer."""
    if len(token) <= 3 or token.isdigit() or ":" in token:
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("ches", "shes", "sses", "xes", "oes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def normalise_question(text: str) -> str:
    """The exact-match form of a question: its stemmed tokens joined by spaces."""
    return " ".join(stem(t) for t in tokens(text))


def number_value(token: str) -> str | None:
    """ "8", "eight" → "8"; "8:30" → "8:30"; anything else → None."""
    if token.isdigit():
        return str(int(token))
    if ":" in token:
        hours, minutes = token.split(":")
        return f"{int(hours)}:{minutes}"
    value = NUMBER_WORDS.get(token)
    return None if value is None else str(value)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours counts 1), capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        best = current[0]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
