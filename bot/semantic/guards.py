"""The correctness rules: which questions may use the shared cache, and which entry may answer.

Two kinds of rule:
- question rules decide whether a question may be looked up or stored at all: a
  follow-up ("and how much is it?"), a personal question ("where is my order?") or a
  question whose answer depends on the clock ("are you open now?") never is;
- pair rules decide whether a stored entry may answer a new question: the same
  entities (`entities.py`), nothing asked that the cached question did not ask (price,
  closing time, sizes, ingredients, a recommendation), the same polarity (negation), and
  no content word outside the dictionary that only one of them has (an unknown thing) — otherwise a high
  similarity is exactly the failure the cache must not have.

Each rejection is counted by its reason, so an operator sees which rule costs hits.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bot.semantic.entities import Analysis
from bot.semantic.text import tokens


class Reason(StrEnum):
    FOLLOW_UP = "follow_up"
    PERSONAL = "personal"
    TIME_RELATIVE = "time_relative"
    ENTITIES = "entities"
    ASPECT = "aspect"
    UNKNOWN_WORD = "unknown_word"
    NEGATION = "negation"
    THRESHOLD = "threshold"
    NO_ENTRY = "no_entry"  # no stored question names the same entities: not even embedded
    STALE = "stale"  # prompt, menu or model version differs from the entries'
    TOO_LONG = "too_long"
    WARMING_UP = "warming_up"  # the embedding model is still loading


QUESTION_REASONS = (Reason.FOLLOW_UP, Reason.PERSONAL, Reason.TIME_RELATIVE, Reason.TOO_LONG, Reason.STALE)
PAIR_REASONS = (Reason.ENTITIES, Reason.ASPECT, Reason.NEGATION, Reason.UNKNOWN_WORD, Reason.THRESHOLD,
                Reason.NO_ENTRY)

MAX_QUESTION_WORDS = 40  # long messages carry context the cached question did not have

_OPENERS = tuple(
    tuple(tokens(p)) for p in (
        "and", "also", "plus", "but", "then", "what about", "how about", "what if", "ok and", "okay and",
        "so what about", "same", "the other", "another one", "instead",
    )
)
_PRONOUNS = frozenset({"it", "its", "that", "this", "those", "these", "they", "them", "one", "ones", "same", "either"})
_DUMMY_IT = tuple(tuple(tokens(p)) for p in ("is it possible", "is it ok", "is it okay", "is it allowed",
                                              "does it take", "is it fine"))
_AUX_BEFORE_ANAPHORA = frozenset({"is", "are", "was", "were", "does", "do", "did", "will", "can", "could", "would",
                                  "about", "for", "with", "and", "of", "in", "on", "like", "than", "much", "get",
                                  "try", "want", "order", "take", "buy", "need"})
_VERBS_AFTER_RELATIVE = frozenset({"is", "are", "has", "have", "contain", "contains", "come", "comes", "does", "do",
                                   "can", "taste", "tastes", "goes", "go"})
_ACKS = frozenset({"yes", "no", "ok", "okay", "sure", "please", "thanks", "thank", "you", "yep", "nope", "cool",
                   "great", "fine", "yeah", "pls", "thx", "the", "a", "one", "that", "this", "and", "for", "in",
                   "with", "then", "just"})
_PERSONAL_THINGS = frozenset({
    "order", "cart", "basket", "account", "profile", "name", "usual", "last", "point", "loyalty", "receipt",
    "booking", "reservation", "history", "bill", "payment", "address", "phone", "email", "detail", "data",
    "previou", "previous",
})
_PERSONAL_PHRASES = tuple(tuple(tokens(p)) for p in (
    "did i", "have i", "i ordered", "i paid", "i booked", "i reserved", "who am i", "do you know me",
    "remember me", "i told you",
))


def question_rule(analysis: Analysis, ctx_flags: dict[str, bool] | None = None) -> Reason | None:
    """Why this question may not use the shared cache (None: it may)."""
    flags = ctx_flags or {}
    if flags.get("follow_up"):
        return Reason.FOLLOW_UP
    if flags.get("personal"):
        return Reason.PERSONAL
    if flags.get("time_sensitive"):
        return Reason.TIME_RELATIVE
    if is_personal(analysis):
        return Reason.PERSONAL
    if is_follow_up(analysis):
        return Reason.FOLLOW_UP
    if analysis.time_relative:
        return Reason.TIME_RELATIVE
    if len(analysis.tokens) > MAX_QUESTION_WORDS:
        return Reason.TOO_LONG
    return None


def pair_rule(question: Analysis, cached: Analysis) -> Reason | None:
    """Why the cached question's answer does not answer this one (None: it does, given similarity)."""
    if question.entities != cached.entities:
        return Reason.ENTITIES
    if not question.aspects <= cached.aspects:
        return Reason.ASPECT  # asks for the price (or closing time...) the cached question did not
    if question.negated != cached.negated:
        return Reason.NEGATION
    if not set(question.unknown) <= set(cached.tokens) or not set(cached.unknown) <= set(question.tokens):
        return Reason.UNKNOWN_WORD  # "gluten free bread", "latte with an extra shot": a thing not in the dictionary
    return None


def is_follow_up(analysis: Analysis) -> bool:
    """Depends on an earlier turn: "and on saturday?", "is it vegan?", "the large one", "yes please"."""
    words = list(analysis.tokens)
    if not words:
        return True
    raw = tokens(analysis.text)
    if any(tuple(raw[: len(o)]) == o for o in _OPENERS):
        return True
    if set(raw) <= _ACKS:
        return True
    if analysis.subjects:
        return False
    pronouns = [i for i, w in enumerate(raw) if w in _PRONOUNS]
    if not pronouns:
        # Only sizes, numbers or days and filler: an ellipsis ("large please", "2 of them").
        return not analysis.unknown and bool(analysis.entities) and all(
            e.kind in ("size", "number") for e in analysis.entities
        )
    # "is it possible to book", "how long does it take": an "it" that refers to nothing.
    dummy = {i + 1 for i in range(len(raw)) for d in _DUMMY_IT if tuple(raw[i:i + len(d)]) == d}
    return any(i not in dummy and not _relative_that(raw, i) for i in pronouns)


def _relative_that(raw: list[str], i: int) -> bool:
    """ "what do you have that is gluten free": a relative "that" (after a noun or "have", before a verb)."""
    if raw[i] != "that" or i == 0 or i + 1 >= len(raw):
        return False
    return raw[i - 1] not in _AUX_BEFORE_ANAPHORA and raw[i + 1] in _VERBS_AFTER_RELATIVE


def is_personal(analysis: Analysis) -> bool:
    """Needs the customer's own data: their order, cart, name, history."""
    raw = tokens(analysis.text)
    for i, word in enumerate(raw):
        if word in ("my", "mine", "me") and any(w.rstrip("s") in _PERSONAL_THINGS for w in raw[i + 1:i + 4]):
            return True
    return any(tuple(raw[i:i + len(p)]) == p for p in _PERSONAL_PHRASES for i in range(len(raw)))


def ctx_flags(ctx: Any) -> dict[str, bool]:
    """The agent's turn context as the rules read it (attribute names of the agent's protocol)."""
    if ctx is None:
        return {}

    def flag(*names: str) -> bool:
        return any(bool(getattr(ctx, n, False)) for n in names)

    return {
        "follow_up": flag("follow_up", "is_follow_up", "depends_on_history", "uses_history"),
        "personal": flag("personal", "used_personal_data", "uses_personal_data", "used_personal_tools"),
        "time_sensitive": flag("time_sensitive"),
    }
