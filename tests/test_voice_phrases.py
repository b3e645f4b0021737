"""How a note is decoded: the word model of what customers say (bot/voice/phrases.py), the choice among the
beam's readings it makes (`Vocabulary.choose`), and the seam around CTranslate2's Whisper that hands it the
readings and sizes the encoder's window (bot/voice/decoding.py).

The seam's tests stand a scripted generator in for CTranslate2's Whisper (a third-party model, not our class);
the real model's effect is held by the development set's bound in tests/test_voice_vocabulary.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from bot.config import load_settings
from bot.knowledge.loader import load_cafe, load_menu
from bot.voice import WhisperTranscriber
from bot.voice.decoding import CafeDecoder, cafe_decoder, content_frames
from bot.voice.phrases import PhraseModel, Slots, read_patterns, words
from bot.voice.vocabulary import build_vocabulary
from testkit import ROOT
from testkit.settings import make_settings

MENU, CAFE = ROOT / "data" / "menu.yaml", ROOT / "data" / "cafe.yaml"


def vocabulary():  # type: ignore[no-untyped-def]
    return build_vocabulary(load_menu(MENU)[0], load_cafe(CAFE)[0])


def likelier(model: PhraseModel, said: str, than: str) -> bool:
    return model.log_prob(words(said)) > model.log_prob(words(than))


def test_the_cafes_words_are_likelier_than_what_they_sound_like() -> None:
    model = vocabulary().phrase_model
    assert likelier(model, "do you still have the almond croissant", "do you still have the yum and quasant")
    assert likelier(model, "do you have soy milk for the cappuccino", "do you have soy milk from the cappuccino")
    assert likelier(model, "can i get a decaf flat white with oat milk", "can i get a decaf flat white willow to milk")
    assert likelier(model, "what time do you close on sunday", "what time do you glow on sunday")


def test_the_slots_come_from_the_menu_and_the_cafe_facts() -> None:
    slots = vocabulary().slots
    assert {"almond croissant", "flat white", "caffè latte", "chocolate croissant", "blt"} <= set(slots.item)
    assert {"oat milk", "almond milk"} <= set(slots.milk) and "extra shot" in slots.extra
    assert "large" in slots.size and "gluten free" in slots.tag and "laptops" in slots.topic
    assert "pastries" in slots.category and "tea" in slots.category


def test_the_word_model_follows_a_menu_change() -> None:
    menu, cafe = load_menu(MENU)[0], load_cafe(CAFE)[0]
    renamed = menu.model_copy(update={"categories": tuple(
        c.model_copy(update={"items": tuple(i.model_copy(update={"name": "Cortadito"}) if i.id == "cortado" else i
                                            for i in c.items)})
        for c in menu.categories)})
    before, after = build_vocabulary(menu, cafe).phrase_model, build_vocabulary(renamed, cafe).phrase_model
    said = words("two cortaditos please")
    assert after.log_prob(said) > before.log_prob(said) + 5


def test_the_patterns_name_no_cafe_of_their_own() -> None:
    """The patterns are everyday English; the cafe's words reach them only through the slots."""
    text = " ".join(read_patterns())
    for cafe_word in ("croissant", "flat white", "cortado", "copper kettle", "sencha", "oat"):
        assert cafe_word not in text
    model = PhraseModel.build(Slots(item=("scone",)), ["can i have a {item} please"])
    assert likelier(model, "can i have a scone please", "can i have a stone please")
    assert likelier(model, "can i have two scones please", "can i have two stones please")  # the plural too


WEIGHT = load_settings(_env_file=None).whisper_phrase_weight  # the default


def test_the_reading_with_the_cafes_words_wins_when_the_decoder_is_unsure() -> None:
    readings = [("Do you still have the yum and quasant?", -1.6), ("Do you still have the almond croissant?", -2.0)]
    assert vocabulary().choose(readings, WEIGHT) == 1


def test_a_reading_far_less_likely_to_the_decoder_is_never_taken_for_its_words() -> None:
    readings = [("Is there a table by the window?", -1.0), ("Is there a flat white by the window?", -40.0)]
    assert vocabulary().choose(readings, WEIGHT) == 0


def test_no_weight_or_no_menu_keeps_the_decoders_first_reading() -> None:
    readings = [("the yum and quasant", -1.6), ("the almond croissant", -2.0)]
    assert vocabulary().choose(readings, weight=0.0) == 0
    no_menu = build_vocabulary(load_menu(MENU)[0].model_copy(update={"categories": ()}), None)
    assert no_menu.choose(readings, WEIGHT) == 0


# --- the seam ----------------------------------------------------------------------------------------------------
@dataclass
class Generated:
    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float = 0.01


class WordTokenizer:
    """Token id i is the word WORDS[i]; the end of text comes after them."""

    WORDS = ["the", "yum", "and", "quasant", "almond", "croissant"]

    def token_to_id(self, token: str) -> int:
        assert token == "<|endoftext|>"
        return len(self.WORDS)

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.WORDS[i] for i in ids)


@dataclass
class ScriptedWhisper:
    """Stands in for ctranslate2.models.Whisper: the beam's readings, best first by the decoder's score."""

    readings: list[list[int]]
    scores: list[float]
    asked: list[dict[str, Any]] = field(default_factory=list)
    is_multilingual: bool = False

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> list[Generated]:
        self.asked.append(options)
        n = options.get("num_hypotheses", 1)
        return [Generated([[*r, len(WordTokenizer.WORDS)] for r in self.readings[:n]], self.scores[:n], 0.02)]


def decoder() -> tuple[CafeDecoder, ScriptedWhisper]:
    inner = ScriptedWhisper([[0, 1, 2, 3], [0, 4, 5]], [-0.40, -0.55])
    return CafeDecoder(inner, WordTokenizer()), inner


def test_the_chosen_reading_comes_first_with_its_own_score() -> None:
    seam, inner = decoder()
    seen: list[list[tuple[str, float]]] = []

    def chooser(readings: Any) -> int:
        seen.append(list(readings))
        return 1

    with seam.tuned(chooser):
        [result] = seam.generate(None, [[1]], beam_size=5, length_penalty=1.0)
    assert inner.asked[-1]["num_hypotheses"] == 5
    assert [text for text, _ in seen[0]] == ["the yum and quasant", "the almond croissant"]
    assert seen[0][1][1] == pytest.approx(-0.55 * 4)  # the whole reading's log-probability: end token included
    assert result.sequences_ids[0][:3] == [0, 4, 5] and result.scores[0] == -0.55
    assert result.no_speech_prob == 0.02


def test_without_a_chooser_the_decoder_is_untouched() -> None:
    seam, inner = decoder()
    [result] = seam.generate(None, [[1]], beam_size=5)
    assert "num_hypotheses" not in inner.asked[-1]
    assert result.sequences_ids == [[0, 1, 2, 3, 6]]
    with seam.tuned(lambda readings: 1):
        seam.generate(None, [[1]], beam_size=1)  # greedy: one reading, nothing to choose
    assert "num_hypotheses" not in inner.asked[-1]
    assert seam.is_multilingual is False  # everything else is the wrapped model's


def test_a_chooser_out_of_range_keeps_the_first_reading() -> None:
    seam, _ = decoder()
    with seam.tuned(lambda readings: 7):
        [result] = seam.generate(None, [[1]], beam_size=2)
    assert result.sequences_ids[0][:4] == [0, 1, 2, 3]


def test_a_chooser_that_fails_keeps_the_first_reading_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    seam, _ = decoder()

    def broken(readings: Any) -> int:
        raise KeyError("a bug")

    with seam.tuned(broken):
        [result] = seam.generate(None, [[1]], beam_size=5)
    assert result.sequences_ids[0][:4] == [0, 1, 2, 3]
    assert "choosing among 2 readings failed" in caplog.text


class FakeFasterWhisper:
    def __init__(self) -> None:
        self.model = ScriptedWhisper([[0]], [-0.1])
        self.hf_tokenizer = WordTokenizer()


def test_the_seam_goes_in_once_and_only_around_a_ctranslate2_model() -> None:
    model = FakeFasterWhisper()
    first = cafe_decoder(model)
    assert isinstance(model.model, CafeDecoder) and cafe_decoder(model) is first
    assert cafe_decoder(object()) is None


@pytest.mark.parametrize(("env", "english", "chooses"), [
    ({}, True, True),
    ({"whisper_phrase_weight": 0}, True, False),
    ({"whisper_menu_hints": "off"}, True, False),
    ({"whisper_beam_size": 1}, True, False),
    ({"whisper_model": "base"}, False, False),  # multilingual, language detected: the word model is English
    ({"whisper_model": "base", "whisper_language": "en"}, False, True),
])
def test_the_word_model_chooses_for_english_notes_told_the_menu(tmp_path: Any, env: dict[str, Any], english: bool,
                                                                  chooses: bool) -> None:
    settings = make_settings(tmp_path, **env)
    model = FakeFasterWhisper()
    model.model.is_multilingual = not english
    transcriber = WhisperTranscriber(settings, model=model)
    assert (transcriber.chooser(vocabulary(), model) is not None) is chooses
    assert transcriber.chooser(None, model) is None


def test_the_phrase_weight_setting_defaults_to_the_measured_choice() -> None:
    assert load_settings(_env_file=None).whisper_phrase_weight == 0.15


# --- the encoder's window ----------------------------------------------------------------------------------------
@dataclass
class EncodingWhisper(ScriptedWhisper):
    """Also records the width of each window the encoder is given."""

    widths: list[int] = field(default_factory=list)

    def encode(self, features: Any, to_cpu: bool = False) -> str:
        self.widths.append(np.asarray(features).shape[-1])
        return "encoded"


def window(speech_frames: int) -> Any:
    import ctranslate2

    features = np.zeros((1, 80, 3000), dtype=np.float32)
    features[:, :, :speech_frames] = np.random.default_rng(1).normal(0, 1, (1, 80, speech_frames))
    return ctranslate2.StorageView.from_array(features)


def test_the_encoder_hears_the_speech_and_the_padding_asked_for_in_whole_seconds() -> None:
    inner = EncodingWhisper([[0]], [-0.1])
    seam = CafeDecoder(inner, WordTokenizer())
    assert seam.encode(window(420)) == "encoded" and inner.widths[-1] == 3000  # nothing asked: the whole window
    with seam.tuned(pad_frames=1500):
        seam.encode(window(420))
        assert inner.widths[-1] == 2000  # 4.2 s of speech + 15 s, to the next whole second
        seam.encode(window(2900))
        assert inner.widths[-1] == 3000  # never more than the window
    seam.encode(window(420))
    assert inner.widths[-1] == 3000  # only within the block


def test_content_frames_is_where_the_zero_padding_starts() -> None:
    features = np.zeros((1, 80, 3000), dtype=np.float32)
    assert content_frames(features) == 1
    features[0, 5, 1234] = -0.5
    assert content_frames(features) == 1235


@pytest.mark.parametrize(("pad", "english", "frames"), [
    ("auto", True, None),  # tiny.en keeps its whole window
    ("auto", False, 1500),  # a multilingual model hears 15 s of padding
    (10, True, 1000),
    (30, False, None),
    (45, False, None),
])
def test_the_padding_follows_the_setting_and_the_model(tmp_path: Any, pad: Any, english: bool,
                                                       frames: int | None) -> None:
    model = FakeFasterWhisper()
    model.model.is_multilingual = not english
    transcriber = WhisperTranscriber(make_settings(tmp_path, whisper_pad_seconds=pad), model=model)
    assert transcriber.pad_frames(model) == frames
