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

from enum import StrEnum

from bot.semantic.entities import Analysis


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


def pair_rule(question: Analysis, cached: Analysis, skip: Reason | None = None) -> Reason | None:
    """Why the cached question's answer does not answer this one (None: it does, given similarity).

    `skip` switches one rule off (the benchmark's ablations; the bot never does).
    """
    if skip != Reason.ENTITIES and question.entities != cached.entities:
        return Reason.ENTITIES
    if skip != Reason.ASPECT and asks_more(question.aspects, cached.aspects):
        return Reason.ASPECT  # asks for the price (or closing time...) the cached question did not
    if skip != Reason.NEGATION and question.negated != cached.negated:
        return Reason.NEGATION
    if skip != Reason.UNKNOWN_WORD and (
        not set(question.unknown) <= set(cached.tokens) or not set(cached.unknown) <= set(question.tokens)
    ):
        return Reason.UNKNOWN_WORD  # "gluten free bread", "latte with an extra shot": a thing not in the dictionary
    return None
