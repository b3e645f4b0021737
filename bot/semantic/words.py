"""How close two words are, from the embedding model's own word table: the soft unknown-word rule.

The pair rules refuse a cached answer when one question has a content word the dictionary
does not know and the other lacks ("is the terrace heated" / "do you have outdoor seating").
Customers also use words nobody listed for a thing the other question does name ("pup" for a
dog, "restroom" for a toilet). Such a word is let through when it is a near-synonym of a content
word of the other question: the cosine of the two words in the model's input embedding table
(the vectors its tokenizer's word pieces start from, averaged over a word's pieces) clears a
threshold, or both are forms of one word ("closed" / "close", "booking" / "book"). No model call:
the table is a matrix lookup, so the rule costs microseconds on a lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

# Development sets, static vectors: true synonyms ("restroom"/"toilet", "puppy"/"dog", "children"/"kids",
# "price"/"cost", "reservation"/"booking") score 0.40-0.77; the words that change the answer
# ("heated" vs "outdoor seating", "deposit" vs "cash", "bread" vs "gluten", place names) at most 0.21.
DEFAULT_WORD_THRESHOLD = 0.40
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "est", "ed", "es", "s", "ly")


def family(word: str) -> str:
    """A crude common root: "closed"/"close"/"closing" → "clos", "booking"/"book" → "book"; short words as they are."""
    root = word
    for suffix in _SUFFIXES:
        if root.endswith(suffix) and len(root) - len(suffix) >= 4:
            root = root[: -len(suffix)]
            break
    if len(root) >= 5 and root[-1] == root[-2]:
        root = root[:-1]  # "shopping" → "shopp" → "shop"
    return root[:-1] if root.endswith("e") and len(root) >= 5 else root


class WordSimilarity:
    """Cosines of single words in the model's input embedding table (memoised per word)."""

    def __init__(self, pieces: Callable[[str], list[int]], table: np.ndarray,
                 threshold: float = DEFAULT_WORD_THRESHOLD) -> None:
        self._pieces = pieces
        self._table = table
        self.threshold = threshold
        self._vectors: dict[str, np.ndarray | None] = {}

    def vector(self, word: str) -> np.ndarray | None:
        if word in self._vectors:
            return self._vectors[word]
        ids = self._pieces(word)
        vector: np.ndarray | None = None
        if ids:
            mean = self._table[ids].mean(axis=0)
            norm = float(np.linalg.norm(mean))
            vector = mean / norm if norm > 0 else None
        if len(self._vectors) < 50_000:
            self._vectors[word] = vector
        return vector

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.vector(a), self.vector(b)
        return float(va @ vb) if va is not None and vb is not None else 0.0

    def covered(self, word: str, others: Iterable[str]) -> bool:
        """Whether `word` says what one of `others` says: the same word's form, or a near-synonym."""
        root = family(word)
        return any(family(other) == root or self.similarity(word, other) >= self.threshold for other in others)
