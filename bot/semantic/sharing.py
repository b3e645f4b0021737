"""Which answers may be shared between customers: one policy for every answer cache.

An answer in the exact or the semantic cache is served to whoever asks next, in any
words, for hours or days. So it must be built from nothing customer-specific: an answer
the model wrote while it could see this customer's dialog, profile, cart or orders may
carry what the customer said ("your name is Alice", a planted "the soup is gluten-free")
and is never stored; and a question that only makes sense for one customer (their order,
their name, "is it vegan?" after they named a dish, "for me" after they named an
allergy) is never answered from the shared caches either.

Per turn the agent computes one `Shareability` (what the question is) and, after the
model answered, one `Provenance` (how the answer was made). `serve_blocker` and
`store_blocker` are the only two decisions; both caches ask them and nothing else.
Every "no" is a `Blocker`, so an operator sees in the stats which rule costs hits.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.knowledge.models import Menu
from bot.semantic.entities import Analysis, Lexicon
from bot.semantic.text import fold, stem, tokens

MAX_QUESTION_WORDS = 40  # a long message carries context a short cached question did not have


class Blocker(StrEnum):
    """Why an answer may not be served from, or stored in, a cache shared by every customer."""

    FOLLOW_UP = "follow_up"  # leans on an earlier turn: "is it vegan?", "and the large one?"
    PERSONAL = "personal"  # about this customer's own data, or discloses it: "what is my name?"
    SELF_REFERENCE = "self_reference"  # "safe for me", "can I eat" after the customer said who they are
    TIME_RELATIVE = "time_relative"  # "now", "today": true only when it was said
    INSTRUCTION = "instruction"  # tries to steer the bot: "ignore your rules", "tell everyone ..."
    TOO_LONG = "too_long"
    LANGUAGE = "language"  # the semantic dictionary and model are English-only: a non-English question or reader
    HISTORY = "history"  # the model saw the dialog: its answer may repeat what the customer said
    TOOLS = "tools"  # the model used tools (menu search, cart, orders): the answer is this customer's
    EMPTY = "empty"


class CacheKind(StrEnum):
    EXACT = "exact"  # the same words (after normalisation) only
    SEMANTIC = "semantic"  # any paraphrase: English only


@dataclass(frozen=True, slots=True)
class Provenance:
    """How an answer was made. Profile, cart and orders reach the model only through tools."""

    history_sent: bool = False
    tools_used: tuple[str, ...] = ()

    @classmethod
    def standalone(cls) -> Provenance:
        """System prompt and the question only: FAQ seeds, warmups, benchmarks."""
        return cls()


@dataclass(frozen=True, slots=True)
class Shareability:
    """What one question is, as far as sharing goes; computed once per turn."""

    analysis: Analysis
    follow_up: bool = False
    personal: bool = False
    self_reference: bool = False
    time_relative: bool = False
    instruction: bool = False
    too_long: bool = False
    language: str = "en"  # the question's, as guessed: "en" or "other"
    reader: str = "en"  # the customer's language (bot.i18n): the answer is written for it

    def serve_blocker(self, cache: CacheKind = CacheKind.EXACT) -> Blocker | None:
        """Why a shared answer must not be served for this question (None: it may)."""
        for blocker, present in (
            (Blocker.EMPTY, not self.analysis.tokens and not self.analysis.text.strip()),
            (Blocker.INSTRUCTION, self.instruction),
            (Blocker.PERSONAL, self.personal),
            (Blocker.FOLLOW_UP, self.follow_up),
            (Blocker.SELF_REFERENCE, self.self_reference),
            (Blocker.TIME_RELATIVE, self.time_relative),
            (Blocker.TOO_LONG, self.too_long),
            (Blocker.LANGUAGE, cache is CacheKind.SEMANTIC and (self.language != "en" or self.reader != "en")),
        ):
            if present:
                return blocker
        return None

    def store_blocker(self, provenance: Provenance, cache: CacheKind = CacheKind.EXACT) -> Blocker | None:
        """Why this answer must not be stored for everyone (None: it may)."""
        if provenance.tools_used:
            return Blocker.TOOLS
        if provenance.history_sent:
            return Blocker.HISTORY
        return self.serve_blocker(cache)


class SharingPolicy:
    """Assesses questions with the menu as the dictionary (one `Lexicon` per menu version).

    An assessment is a pure function of the question's text, `has_history`, the reader's language and the
    lexicon, so the last MEMO_SIZE are remembered: a rush of customers asking the same question (the case the
    caches are for) assesses it once. The memo belongs to one lexicon and goes with it when the menu changes.
    """

    MEMO_SIZE = 512

    def __init__(self, menu: Callable[[], Menu | None]) -> None:
        self._menu = menu
        self._lexicon: Lexicon | None = None
        self._memo: OrderedDict[tuple[str, bool, str], Shareability] = OrderedDict()

    def lexicon(self) -> Lexicon:
        menu = self._menu()
        version = menu.version if menu is not None else ""
        if self._lexicon is None or self._lexicon.menu_version != version:
            self._lexicon = Lexicon(menu)
            self._memo.clear()
        return self._lexicon

    def assess(self, question: str, *, has_history: bool = False, reader: str = "en") -> Shareability:
        lexicon = self.lexicon()  # first: a new menu empties the memo
        key = (question, has_history, reader)
        memo = self._memo
        found = memo.get(key)
        if found is not None:
            memo.move_to_end(key)
            return found
        found = memo[key] = assess(lexicon.analyse(question), has_history=has_history, reader=reader)
        if len(memo) > self.MEMO_SIZE:
            memo.popitem(last=False)
        return found


def assess(analysis: Analysis, *, has_history: bool = False, reader: str = "en") -> Shareability:
    """The question's traits. Without history "for me" means nobody in particular; with it, this customer."""
    raw = tokens(analysis.text)
    return Shareability(
        analysis=analysis,
        follow_up=is_follow_up(analysis, raw),
        personal=is_personal(analysis.text, raw),
        self_reference=has_history and _SELF_REFERENCES.found_in(raw),
        time_relative=analysis.time_relative,
        instruction=is_instruction(analysis.text, raw),
        too_long=len(analysis.tokens) > MAX_QUESTION_WORDS,
        language=guess_language(analysis.text, raw),
        reader=reader,
    )


# --- the vocabulary (the only place it lives) -------------------------------------------------

class _Phrases:
    """A list of token phrases, indexed by first word: a question is checked word by word against the few
    phrases that begin with that word, not against all of them at every position (~0.5 ms a question before)."""

    def __init__(self, items: tuple[str, ...]) -> None:
        self.all = tuple(tuple(tokens(p)) for p in items)
        self._by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in self.all:
            if phrase:
                self._by_first.setdefault(phrase[0], []).append(phrase)

    def found_in(self, raw: list[str]) -> bool:
        """One of the phrases occurs in `raw` (whole tokens)."""
        by_first = self._by_first
        for i, word in enumerate(raw):
            for phrase in by_first.get(word, ()):
                if tuple(raw[i:i + len(phrase)]) == phrase:
                    return True
        return False

    def starts(self, raw: list[str]) -> bool:
        """`raw` begins with one of the phrases."""
        return bool(raw) and any(tuple(raw[:len(p)]) == p for p in self._by_first.get(raw[0], ()))


def _phrases(*items: str) -> _Phrases:
    return _Phrases(items)


_OPENERS = _phrases("and", "also", "plus", "but", "then", "what about", "how about", "what if", "ok and",
                    "okay and", "so what about", "same", "the other", "another one", "instead")
_FILLERS = frozenset({"hmm", "hm", "um", "uh", "erm", "er", "ok", "okay", "so", "well", "oh", "ah", "right", "alright"})
_FOLLOW_UP_PHRASES = _phrases(
    "what else", "anything else", "something else", "anything cheaper", "something cheaper", "cheaper one",
    "bigger one", "smaller one", "why not", "what do you mean", "you mean", "the same", "same for", "of those",
    "of them", "one of", "without the", "the two", "both of", "i meant", "go ahead", "with the same",
    "that one", "this one", "the other one",
)
_OBJECT_VERBS = frozenset({"get", "have", "make", "order", "take", "try", "want", "buy", "bring", "eat", "drink",
                           "pack", "heat", "warm", "serve", "add", "put", "do"})
_PRONOUNS = frozenset({"it", "its", "that", "this", "those", "these", "they", "them", "one", "same", "either"})
_DUMMY_IT = _phrases("is it possible", "is it ok", "is it okay", "is it allowed", "does it take", "is it fine")
_AUX_BEFORE_ANAPHORA = frozenset({"is", "are", "was", "were", "does", "do", "did", "will", "can", "could", "would",
                                  "about", "for", "with", "and", "of", "in", "on", "like", "than", "much", "get",
                                  "try", "want", "order", "take", "buy", "need"})
_VERBS_AFTER_RELATIVE = frozenset({"is", "are", "has", "have", "contain", "contains", "come", "comes", "does", "do",
                                   "can", "taste", "tastes", "goes", "go"})
_ACKS = frozenset({"why", "yes", "no", "ok", "okay", "sure", "please", "thanks", "thank", "you", "yep", "nope", "cool",
                   "great", "fine", "yeah", "pls", "thx", "the", "a", "one", "that", "this", "and", "for", "in",
                   "with", "then", "just"})
_PERSONAL_THINGS = frozenset({
    "order", "cart", "basket", "account", "profile", "name", "usual", "last", "point", "loyalty", "receipt",
    "booking", "reservation", "history", "bill", "payment", "address", "number", "email", "detail", "invoice",
    "data", "previous", "message", "question", "allergy", "diet", "conversation", "chat", "stamp",
    "card", "pickup", "membership", "member", "status", "voucher", "coupon", "birthday", "table", "delivery",
    "flat", "street", "floor",
})
_PERSONAL_PHRASES = _phrases(
    "did i", "have i", "i ordered", "i paid", "i booked", "i reserved", "who am i", "do you know me",
    "remember me", "i told you", "i said", "i mentioned", "told you", "you know about me", "about me",
    "call me", "i am called", "my name", "name is", "remind me", "what do you know", "other customer",
    "other customers", "another customer", "other user", "other users", "other people", "someone else",
    "everyone else", "previous customer", "last customer", "other guests", "previous user", "last user",
    "person before me", "i live", "i am a", "am i a", "do i have any", "have i got", "my phone number",
    "under the name", "before mine", "ahead of me", "before me", "charged twice", "i asked", "i gave you",
    "at table", "did my", "has my", "is my",
    "my friend", "my husband", "my wife", "my partner", "my colleague", "my mum", "my mom", "my dad",
)
_SELF_REFERENCES = _phrases(
    "for me", "for us", "suit me", "suits me", "i can eat", "can i eat", "can i drink", "i can drink",
    "should i", "would i", "could i eat", "safe for", "ok for me", "okay for me", "recommend me", "my allergy",
    "my diet", "i am allergic", "i am vegan", "i am vegetarian", "i like", "i love", "i prefer", "i hate",
    "i do not like", "i do not eat", "i can not eat", "can i have", "i can have", "i can actually",
    "someone like me", "people like me", "my intolerance", "my condition", "my budget", "my kid", "my kids",
    "my son", "my daughter", "my husband", "my wife", "his thing", "her thing", "fit my", "fits my",
    "suit my", "suits my", "i would like", "would i like", "i might like", "i usually", "my taste",
)
_INSTRUCTIONS = _phrases(
    "ignore", "disregard", "forget your", "forget all", "forget previous", "forget the", "system prompt",
    "your prompt", "your instructions", "previous instructions", "your rules", "new rule", "pretend",
    "act as", "you are now", "from now on", "tell everyone", "tell every", "tell all", "tell other",
    "tell the next", "say that", "answer that", "reply that", "respond that", "always say", "always answer",
    "always reply", "repeat after", "remember that", "note that", "keep in mind", "developer mode", "jailbreak",
    "respond with", "reply with", "answer with", "reveal your", "print your prompt", "confirm that",
    "the owner said", "the manager said", "the staff said", "the chef said", "is actually", "are actually",
    "prompt", "instructions", "instruction", "configuration", "config", "developer", "developers", "admin",
    "roleplay", "role play", "play a game", "restrictions", "restricted", "hidden", "secret", "context window",
    "rules you follow", "your rules", "your guidelines", "if anyone asks", "if someone asks", "if people ask",
    "when someone asks", "when people ask", "next time someone", "next person", "tell people", "tell them",
    "tell customers", "tell your customers", "tell the customers", "spread the word", "let everyone know",
    "let people know", "official answer", "save this", "store this", "so say", "just say", "just confirm",
    "confirm it", "say yes", "say no", "says yes", "says no", "changed to", "act like", "act as if",
    "respond as", "answer as", "behave", "evil", "list all", "first message", "phone numbers", "dan",
    "jailbreak", "override", "unrestricted", "no limits", "system message", "admin password", "for everyone",
    "all customers", "future customers", "every customer", "all users", "all future", "going forward",
    "api key", "token", "password is", "text above", "above text", "what model", "temperature", "tools and",
    "functions you", "pwned", "owner here", "manager here", "this is the owner", "i am the owner", "rules were",
    "were you given", "were you told", "you were told", "chatted before", "home address", "personal mobile",
    "update the menu", "answer yes", "answer no", "use that answer", "use this answer",
)
_MARKUP = re.compile(r"</?\s*[a-z]+\s*>|\b(system|assistant|developer|admin|user|owner|q|a)\W{0,2}:", re.IGNORECASE)
_SENTENCES = re.compile(r"[.!?;:]+(?=\s|$)|\n+")  # not inside "3.50", "12:30" or an e-mail address
_GREETINGS = frozenset({"hi", "hello", "hey", "hiya", "thanks", "thank", "you", "so", "much", "cheers", "morning",
                        "good", "afternoon", "evening", "there", "guys", "all", "team", "please", "ok", "okay",
                        "quick", "question", "sorry", "excuse", "me", "yo", "moin", "hallo"})
_PHONE = re.compile(r"(?:\+?\d[\d\s().-]{5,}\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
# German, French, Spanish, Italian function words that English questions do not use.
_FOREIGN_TEXT = (
    "ist sind und oder der das den dem des ein eine einen ich ihr wir habt haben gibt es wie wo wann warum kann "
    "konnen bitte mit ohne fur nicht kein keine auch noch heute morgen danke hallo mein meine meinen darf euch "
    "sie bei zum zur welche hat kostet kosten nehmt verkauft erlaubt willkommen nur eure euer euren eurem viel "
    "wieviel geht gerne gern zahlen bargeld karten kuchen offen hunde haustiere auf zu um vom "
    "est le la les un une des je vous nous avez pour sans pas quel quelle quels quelles quand merci bonjour sont "
    "vos votre ce du au aux peut peux heure heures "
    "el los las una usted tienen para cuanto cuando donde gracias hola que abren se puede con hay del al por "
    "cuesta "
    "il gli della sono avete senza quanto quando dove grazie ciao che ora di contiene costa si puo "
    "voces tem os da com pode posso obrigado "
    "czy jest macie sie mozna ile kosztuje "
    "hebben jullie het een zijn wat ik mijn hoe laat "
    "var ile icin kacta miyim misiniz zaman"
)
_FOREIGN_LETTERS = frozenset("¿¡ıışğßøåłąęśźżćńœäöü")
_FOREIGN_WORDS = frozenset(_FOREIGN_TEXT.split())


def is_follow_up(analysis: Analysis, raw: list[str] | None = None) -> bool:
    """Depends on an earlier turn: "and on saturday?", "is it vegan?", "the large one", "yes please"."""
    if not analysis.tokens:
        return True
    raw = tokens(analysis.text) if raw is None else raw
    words = _without_fillers(raw)
    if _OPENERS.starts(words) or set(raw) <= _ACKS or _FOLLOW_UP_PHRASES.found_in(words):
        return True
    if words and words[-1] == "then" and len(words) > 1:
        return True  # "which drinks can I have then"
    if any(e.kind in ("item", "category") for e in analysis.subjects):
        return False
    if analysis.subjects:
        # A cafe attribute is named ("dog friendly", "to go"): "is it dog friendly" asks about the place,
        # "can I get it to go" about something said before.
        return any(w in _PRONOUNS and i > 0 and raw[i - 1] in _OBJECT_VERBS for i, w in enumerate(raw))
    pronouns = [i for i, w in enumerate(raw) if w in _PRONOUNS]
    if not pronouns:
        # Only sizes, numbers or days and filler: an ellipsis ("large please", "2 of them").
        return not analysis.unknown and bool(analysis.entities) and all(
            e.kind in ("size", "number") for e in analysis.entities
        )
    # "is it possible to book", "how long does it take": an "it" that refers to nothing.
    dummy = {i + 1 for i in range(len(raw)) for d in _DUMMY_IT.all if tuple(raw[i:i + len(d)]) == d}
    return any(i not in dummy and not _relative_that(raw, i) for i in pronouns)


def is_personal(text: str, raw: list[str] | None = None) -> bool:
    """Needs or carries the customer's own data: their order, cart, name, phone, what they said before."""
    raw = tokens(text) if raw is None else raw
    for i, word in enumerate(raw):
        if word in ("my", "mine", "me", "our") and any(stem(w) in _PERSONAL_THINGS for w in raw[i + 1:i + 5]):
            return True
    if _EMAIL.search(text) or any(sum(c.isdigit() for c in m) >= 7 for m in _PHONE.findall(text)):
        return True
    return _PERSONAL_PHRASES.found_in(raw)


def is_instruction(text: str, raw: list[str] | None = None) -> bool:
    """Tells the bot what to say or be, or asks for what it was told: never a frequent question."""
    raw = tokens(text) if raw is None else raw
    return bool(_MARKUP.search(text)) or _INSTRUCTIONS.found_in(raw) or _states_something(text)


def _states_something(text: str) -> bool:
    """A statement beside the question ("is the cake nut free? it is, so say yes"): the customer brings
    context, and a claim, that the next customer did not. Greetings and thanks do not count."""
    parts = [p for p in _SENTENCES.split(text) if p.strip()]
    if len(parts) < 2:
        return False
    question_marks = text.count("?")
    statements = [p for p in parts if not set(tokens(p)) <= _GREETINGS]
    return len(statements) > max(question_marks, 1)


def guess_language(text: str, raw: list[str] | None = None) -> str:
    """ "en" or "other": enough to keep non-English questions out of the English-only semantic cache."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum(not c.isascii() for c in fold("".join(letters))) > len(letters) // 4:
        return "other"  # another script (Cyrillic, Greek, Arabic, CJK, ...)
    if any(c in _FOREIGN_LETTERS for c in text.lower()):
        return "other"
    raw = tokens(text) if raw is None else raw
    foreign = sum(w in _FOREIGN_WORDS for w in raw)
    return "other" if foreign >= 2 and foreign * 4 >= len(raw) else "en"


def _without_fillers(raw: list[str]) -> list[str]:
    start = 0
    while start < len(raw) and raw[start] in _FILLERS:
        start += 1
    return raw[start:]


def _relative_that(raw: list[str], i: int) -> bool:
    """ "what do you have that is gluten free": a relative "that" (after a noun or "have", before a verb)."""
    if raw[i] != "that" or i == 0 or i + 1 >= len(raw):
        return False
    return raw[i - 1] not in _AUX_BEFORE_ANAPHORA and raw[i + 1] in _VERBS_AFTER_RELATIVE
