"""Word error rate, with the normalisation that makes it fair to Whisper's formatting.

WER = (substitutions + deletions + insertions) / words in the reference, over a
whole set (edits and reference words summed, not an average of per-clip rates).
Before comparing, both sides are lower-cased, hyphens become spaces ("gluten-free"
= "gluten free"), punctuation goes, and number words become digits ("three" = "3").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORDS = {word: n for n, word in enumerate(_UNITS)} | _TENS


def normalize(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[-‐–—/]", " ", text)
    text = re.sub(r"[^\w\s']", " ", text)
    words = [w.strip("'") for w in text.split()]
    out: list[str] = []
    for word in (w for w in words if w):
        value = _NUMBER_WORDS.get(word)
        if value is None:
            out.append(word)
        elif out and value < 10 and out[-1].isdigit() and int(out[-1]) in _TENS.values():
            out[-1] = str(int(out[-1]) + value)  # "twenty five" -> 25
        else:
            out.append(str(value))
    return out


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (one row at a time)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (ref_word != hyp_word),  # substitution or match
            ))
        previous = current
    return previous[-1]


def word_error_rate(pairs: Iterable[tuple[str, str]]) -> float:
    """WER of a set of (reference, hypothesis) pairs."""
    edits = words = 0
    for reference, hypothesis in pairs:
        ref = normalize(reference)
        edits += edit_distance(ref, normalize(hypothesis))
        words += len(ref)
    if words == 0:
        raise ValueError("the references hold no words")
    return edits / words


def key_words_heard(key_words: Iterable[str], hypothesis: str) -> list[str]:
    """The key words (menu words, the point of the question) found in a transcript, after normalisation."""
    heard = set(normalize(hypothesis))
    return [word for word in key_words if normalize(word)[0] in heard]
