"""The cafe's own words, told to the speech decoder and used to spell its transcripts.

Whisper's tiny model hears "lentil soup" as "rental soup" and "club sandwich" as "clubs and
which": it does not know the cafe's words. faster-whisper can be told them before it decodes,
as `initial_prompt` (text the model takes as what was said just before) and as `hotwords`
(the same place in the prompt, repeated for every 30 s window). `Vocabulary` holds both, built
from the menu (item names, aliases, categories, dietary tags) and the cafe facts (its name,
the topics of its policies), and `MenuVocabulary` rebuilds it whenever the knowledge base
changes (`/reload_menu`).

An English transcript is first corrected by how it sounds (`correct`, bot/voice/sounds_like.py):
runs of words that sound like one of the vocabulary's terms but are spelled otherwise ("pay no
chocolate" -> "Pain au Chocolat", "clubs and which" -> "Club Sandwich"), within strict limits.
The transcript then gets the menu's spelling of the item names it contains ("flat white" ->
"Flat White", "caffe latte" -> "Caffè Latte"): only whole, exact item names (any case,
spaces or hyphens between the words, accents ignored, an optional plural s).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.voice.phrases import PhraseModel, Slots
from bot.voice.phrases import words as phrase_words
from bot.voice.sounds_like import SoundsLike

if TYPE_CHECKING:
    from bot.knowledge import KnowledgeBase
    from bot.knowledge.models import CafeInfo, Menu

# How the vocabulary reaches the decoder (WHISPER_MENU_HINTS), chosen by bench/whisper_bench.py.
HintMode = Literal["off", "prompt", "hotwords", "both"]
# Whisper keeps at most 223 prompt tokens; about four characters a token leaves room to spare.
MAX_PROMPT_CHARS = 700
_PARENTHESES = re.compile(r"\([^)]*\)")
_SEPARATOR = r"[\s\-‐–]+"


def _fold(text: str) -> str:
    """Lower case without accents: "Caffè" and "caffe" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _phrase(text: str) -> str:
    """A menu label as words to say: no parentheses, "&" as "and", single spaces."""
    return " ".join(_PARENTHESES.sub(" ", text).replace("&", "and").split())


def _words(text: str) -> list[str]:
    return re.split(_SEPARATOR, _fold(text).strip())


def _unique(words: Iterable[str]) -> list[str]:
    """Each term once; one whose words all appear, in order, in an earlier term adds nothing and goes."""
    out: list[str] = []
    said: list[str] = []
    for word in words:
        key = " ".join(_words(word))
        if word and not any(f" {key} " in f" {earlier} " for earlier in said):
            said.append(key)
            out.append(word)
    return out


@dataclass(frozen=True)
class Vocabulary:
    """The words the decoder is told, in the menu's spelling, and how to respell a transcript with them."""

    names: tuple[str, ...]  # item names: respelled in transcripts
    terms: tuple[str, ...]  # everything told to the decoder, most important first (names, aliases, ...)
    cafe: str = ""
    version: str = field(default="", compare=False)
    slots: Slots = field(default_factory=Slots, compare=False)  # the word model's fillers from the cafe's data
    spellings: tuple[str, ...] = ()  # cafe words written with a hyphen ("Wi-Fi"): respelled from "wifi" too

    @property
    def prompt(self) -> str:
        """The `initial_prompt` in the menu's spelling, within Whisper's prompt budget (for languages other than
        English: German writes its nouns capitalised, and the lower-case form measured worse there)."""
        return self._prompt(self.terms)

    @property
    def english_prompt(self) -> str:
        """The `initial_prompt` for English: the words in lower case, as an English transcript writes them
        mid-sentence (names in capitals, "BLT", and the cafe's name stay). Whisper takes the prompt as the text
        just before; told "flat white" rather than "Flat White" it heard 4 more words of the development set's
        176 right (13.1 % WER instead of 15.3 %, docs/BENCHMARKS.md)."""
        return self._prompt(tuple(term if term.isupper() else term.lower() for term in self.terms))

    def _prompt(self, terms: tuple[str, ...]) -> str:
        head = f"{self.cafe} menu: " if self.cafe else "Menu: "
        return head + _join_within(terms, MAX_PROMPT_CHARS - len(head)) + "."

    @property
    def hotwords(self) -> str:
        return _join_within(self.terms, MAX_PROMPT_CHARS)

    def decode_options(self, mode: HintMode, language: str | None = None) -> dict[str, str]:
        """The keyword arguments of WhisperModel.transcribe that carry the vocabulary; `language`: what the
        decoder is set to hear (None: not known before it listens)."""
        if not self.terms or mode == "off":
            return {}
        options: dict[str, str] = {}
        if mode in ("prompt", "both"):
            options["initial_prompt"] = self.english_prompt if language == "en" else self.prompt
        if mode in ("hotwords", "both"):
            options["hotwords"] = self.hotwords
        return options

    def echoes(self, text: str) -> bool:
        """Whether `text` is the prompt read back (what noise can come out as): "menu:" or a list of 3+ terms."""
        folded = _fold(text)
        if "menu:" in folded:
            return True
        known = {" ".join(_words(term)) for term in self.terms}
        pieces = [" ".join(_words(p)) for p in re.split(r"[,.;]", folded) if p.strip()]
        return len(pieces) >= 3 and sum(p in known for p in pieces) >= 3

    @functools.cached_property
    def _sounds(self) -> SoundsLike:
        return SoundsLike(self.terms)

    def correct(self, text: str) -> str:
        """An English `text` with the runs of words that sound like a term written as that term (in its
        spelling: the menu's for item names). For English transcripts only: the sounds are English spelling's."""
        if not text or not self.terms:
            return text
        return self._sounds.correct(text)

    @functools.cached_property
    def phrase_model(self) -> PhraseModel:
        """Built on first use (~0.1 s, on the speech worker), once per vocabulary."""
        return PhraseModel.build(self.slots)

    def choose(self, readings: Sequence[tuple[str, float]], weight: float) -> int:
        """Which of the decoder's readings of an English note to keep (bot/voice/decoding.py): the one whose
        decoder log-probability plus `weight` (WHISPER_PHRASE_WEIGHT) times the word model's, after the
        correction by sound, is the highest. "do you still have the yum and quasant" loses to "... the almond
        croissant" although the decoder put it first by a hair; a reading far less likely to the decoder is never
        taken for its words."""
        if len(readings) < 2 or not self.slots.item:
            return 0
        model = self.phrase_model

        def total(reading: tuple[str, float]) -> float:
            text, decoder = reading
            return decoder + weight * model.log_prob(phrase_words(self.correct(text)))

        return max(range(len(readings)), key=lambda i: total(readings[i]))

    def respell(self, text: str) -> str:
        """`text` with every whole item name in the menu's spelling (longest names first), and the cafe's
        hyphenated words in its spelling however they were joined ("wifi", "wi fi" -> "Wi-Fi")."""
        if not text or not (self.names or self.spellings):
            return text
        folded = _fold(text)
        if len(folded) != len(text):  # a character that folds to several: leave the text alone
            return text
        chars = list(text)
        taken = [False] * len(text)
        for name in sorted([*self.names, *self.spellings], key=len, reverse=True):
            words = [re.escape(w) for w in _words(name)]
            separator = _SEPARATOR.replace("+", "*") if name in self.spellings else _SEPARATOR
            pattern = re.compile(r"(?<![\w'])" + separator.join(words) + r"(e?s)?(?![\w'])")
            for match in pattern.finditer(folded):
                start, end = match.span()
                if any(taken[start:end]):
                    continue
                plural = match.group(1) or ""
                replacement = name + (text[end - len(plural):end] if plural else "")
                if name.isupper() and plural:
                    replacement = name + plural.lower()
                chars[start] = replacement
                for i in range(start + 1, end):
                    chars[i] = ""
                for i in range(start, end):
                    taken[i] = True
        return "".join(chars)


def _join_within(terms: Iterable[str], limit: int) -> str:
    out: list[str] = []
    size = 0
    for term in terms:
        if size + len(term) + 2 > limit:
            break
        out.append(term)
        size += len(term) + 2
    return ", ".join(out)


def build_vocabulary(menu: Menu, cafe: CafeInfo | None = None) -> Vocabulary:
    """Item names first (what must survive the prompt budget), then cafe words, dietary tags, categories, aliases."""
    items = menu.items()
    names = _unique(item.name for item in items)
    aliases = [alias for item in items for alias in item.aliases]
    categories = [part.strip() for c in menu.categories for part in _phrase(c.name).split(" and ")]
    tags = [tag.replace("-", " ") for item in items for tag in item.tags]
    cafe_words: list[str] = []
    if cafe is not None:
        cafe_words = [key.replace("_", " ") for key in cafe.policies]
        if cafe.wifi is not None:
            cafe_words.append("Wi-Fi")
    terms = _unique([*(_phrase(n) for n in names), *cafe_words, *tags, *categories, *aliases])
    cafe_name = cafe.name if cafe is not None else ""
    digest = hashlib.sha256("\n".join([cafe_name, *names, *terms]).encode()).hexdigest()[:12]
    return Vocabulary(names=tuple(names), terms=tuple(terms), cafe=cafe_name, version=digest,
                      slots=phrase_slots(menu, cafe), spellings=tuple(w for w in cafe_words if "-" in w))


def phrase_slots(menu: Menu, cafe: CafeInfo | None) -> Slots:
    """The fillers of the word model's patterns, in lower case: item names and aliases, option choices (milks
    apart from the rest), sizes, dietary tags, allergens, categories and the cafe's policy topics."""
    items = menu.items()

    def said(values: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_phrase(v).lower() for v in values if _phrase(v)))

    choices = [choice.name for item in items for group in item.options for choice in group.choices]
    return Slots(
        item=said([*(item.name for item in items), *(alias for item in items for alias in item.aliases)]),
        milk=said(c for c in choices if "milk" in c.lower()),
        extra=said(c for c in choices if "milk" not in c.lower()),
        size=said(size for item in items for size in item.sizes),
        tag=said(tag.replace("-", " ") for item in items for tag in item.tags),
        allergen=said(allergen for item in items for allergen in item.allergens),
        category=said(part for c in menu.categories for part in _phrase(c.name).split(" and ")),
        topic=said(key.replace("_", " ") for key in cafe.policies) if cafe is not None else (),
    )


class MenuVocabulary:
    """The vocabulary of the menu in force: built at start, rebuilt when the knowledge base changes."""

    def __init__(self, knowledge: KnowledgeBase) -> None:
        self._knowledge = knowledge
        self._current = Vocabulary(names=(), terms=())

    @property
    def current(self) -> Vocabulary:
        return self._current

    def rebuild(self) -> Vocabulary:
        self._current = build_vocabulary(self._knowledge.menu, self._knowledge.cafe)
        return self._current

    async def start(self) -> None:
        self.rebuild()

    async def stop(self) -> None:
        return None

    async def on_knowledge_change(self, _knowledge: KnowledgeBase) -> None:
        self.rebuild()
