"""The pair rules: which stored entry may answer a new question.

Whether a question may use the shared cache at all (a follow-up, a personal question, a
question about "now", an answer the model wrote with the customer's history) is the one
sharing policy in `bot.semantic.sharing`. What is left here decides whether a stored entry
answers a new question: the same entities (`entities.py`), nothing asked that the cached
question did not ask (price, closing time, sizes, ingredients, a recommendation), the
same polarity (negation), and no content word outside the dictionary that only one of
them has (an unknown thing) — otherwise a high similarity is exactly the failure the
cache must not have.

Each rejection is counted by its reason, so an operator sees which rule costs hits.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from bot.semantic.entities import Analysis
from bot.semantic.words import WordSimilarity


class Reason(StrEnum):
    ENTITIES = "entities"
    ASPECT = "aspect"
    UNKNOWN_WORD = "unknown_word"
    NEGATION = "negation"
    THRESHOLD = "threshold"
    NO_ENTRY = "no_entry"  # no stored question names the same entities: not even embedded
    WARMING_UP = "warming_up"  # the embedding model is still loading


PAIR_REASONS = (Reason.ENTITIES, Reason.ASPECT, Reason.NEGATION, Reason.UNKNOWN_WORD, Reason.THRESHOLD,
                Reason.NO_ENTRY)


HOURS_ASPECTS = frozenset({"open", "close", "hours"})
SYMMETRIC_ASPECTS = frozenset({"duration", "price"})  # an answer about these answers nothing else


def asks_more(question: frozenset[str], cached: frozenset[str]) -> bool:
    """Whether the question asks for something the cached question's answer need not say.

    A question that asks which opening-hours fact (the opening time, the closing time, the
    hours) needs a cached question that asked the same: the answer to "what time do you open
    on Sunday" does not say when it closes, and the answer to "are you open on Sunday" may be a
    plain "yes". Otherwise the question may not ask more than the cached one did, and a cached
    answer about how long something takes or what it costs answers nothing else: not how it
    is done ("how do I order for pickup"), not what is on a platter.
    """
    hours = question & HOURS_ASPECTS
    if hours and hours != cached & HOURS_ASPECTS:
        return True
    return bool(question - cached) or bool((cached - question) & SYMMETRIC_ASPECTS)


def unknown_word(question: Analysis, cached: Analysis, words: WordSimilarity | None = None) -> bool:
    """A content word outside the dictionary that only one of them has: "gluten free bread", "extra shot".

    With `words` (the model's word table) a word the other question says in another form or
    with a near-synonym among its content words is no unknown thing: "can i bring my pup" /
    "can i bring my dog", "are you closed on mondays" / "are you open on mondays" (the aspect
    rule already tells opening from closing).
    """
    return _uncovered(question, cached, words) or _uncovered(cached, question, words)


def _uncovered(one: Analysis, other: Analysis, words: WordSimilarity | None) -> bool:
    extra = [w for w in one.unknown if w not in other.tokens]
    if not extra or words is None:
        return bool(extra)
    return not all(words.covered(w, other.content) for w in extra)


Rule = Callable[[Analysis, Analysis, "WordSimilarity | None"], bool]

# Each rule: the reason it gives, and whether the pair breaks it; tried in this order, the first broken one counts.
PAIR_RULES: tuple[tuple[Reason, Rule], ...] = (
    (Reason.ENTITIES, lambda question, cached, _: question.entities != cached.entities),
    # asks for the price (or closing time...) the cached question did not
    (Reason.ASPECT, lambda question, cached, _: asks_more(question.aspects, cached.aspects)),
    (Reason.NEGATION, lambda question, cached, _: question.negated != cached.negated),
    (Reason.UNKNOWN_WORD, unknown_word),
)


def pair_rule(question: Analysis, cached: Analysis, words: WordSimilarity | None = None) -> Reason | None:
    """Why the cached question's answer does not answer this one (None: it does, given similarity)."""
    return next((reason for reason, broken in PAIR_RULES if broken(question, cached, words)), None)
