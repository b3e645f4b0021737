"""Menu-aware transcription: the cafe's words reach the decoder, transcripts use the menu's spelling,
silence and noise stay "nothing heard", and the development set's word error rate stays bounded.

The model tests use the real bundled model (and the multilingual one for German); the decoder's
options are read by wrapping faster-whisper's model, as tests/voice_support.GatedModel does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import tokenizers

from bot.config import load_settings
from bot.knowledge.loader import load_cafe, load_menu
from bot.services import Seams
from bot.voice import WhisperTranscriber
from bot.voice.vocabulary import MAX_PROMPT_CHARS, Vocabulary, build_vocabulary
from bot.voice.whisper import NO_SPEECH_MAX, resolve_model
from handlers.voice import NOTHING_HEARD
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import ADMIN_ID, make_settings, with_openai
from testkit.voice import DEV, Clip, clips_in, dev_clips, fixture_bytes
from testkit.wer import word_error_rate
from tests.helpers import CUSTOMER_ID, running_app

MENU, CAFE = ROOT / "data" / "menu.yaml", ROOT / "data" / "cafe.yaml"
# Measured with the defaults (prompt, in lower case for English; beam 5; the beam's readings chosen by the cafe's
# word model; the correction by sound) on this machine: 5.1 % over the English development set (the fixtures and
# bench/data/voice_dev, 176 words: 9 wrong; 9.1 % with the decoder's first reading, 13.1 % without the correction
# by sound, plain greedy decoding 25.6-28.4 %, docs/BENCHMARKS.md). Issue 17's target for English with the
# default model is 7 % (12 words); the bound leaves five words above the measured nine for other CPUs' int8
# kernels, which change which readings the beam ends with (the fixtures alone moved by a word between machines).
DEV_WER_BOUND = 0.08
GERMAN_WER_BOUND = 0.75  # WHISPER_MODEL=base on espeak-ng's German: 54 % measured


def data_vocabulary() -> Vocabulary:
    return build_vocabulary(load_menu(MENU)[0], load_cafe(CAFE)[0])


class RecordingModel:
    """The real faster-whisper model; remembers the options of each transcribe() call."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: Any, **options: Any) -> Any:
        self.calls.append(options)
        return self._model.transcribe(audio, **options)


# --- the vocabulary itself (no model) -------------------------------------------------------------------
def test_the_vocabulary_holds_item_names_then_cafe_words_within_whispers_prompt_budget() -> None:
    vocabulary = data_vocabulary()
    prompt = vocabulary.prompt
    assert prompt.startswith("Copper Kettle Cafe menu: Espresso, Americano, Cappuccino, Flat White,")
    for name in ("Red Lentil Soup", "Club Sandwich", "Pain au Chocolat", "Gluten-free Banana Bread"):
        assert name in vocabulary.names and f" {name}," in prompt
    assert {"laptops", "takeaway", "Wi-Fi", "vegetarian", "dal", "cheese toastie"} <= set(vocabulary.terms)
    assert "latte" not in vocabulary.terms  # an alias already said by "Caffè Latte" adds nothing
    tokenizer = tokenizers.Tokenizer.from_file(str(Path(resolve_model("")[0]) / "tokenizer.json"))
    assert len(prompt) <= MAX_PROMPT_CHARS and len(tokenizer.encode(" " + prompt).ids) < 223  # Whisper keeps 223


def test_english_is_told_the_menu_in_lower_case_other_languages_in_the_menus_spelling() -> None:
    vocabulary = data_vocabulary()
    english = vocabulary.english_prompt
    assert english.startswith("Copper Kettle Cafe menu: espresso, americano, cappuccino, flat white,")
    assert " red lentil soup," in english and " pain au chocolat," in english and " BLT," in english
    assert english.lower() == vocabulary.prompt.lower() and len(english) <= MAX_PROMPT_CHARS
    assert vocabulary.echoes(english)
    assert vocabulary.decode_options("prompt", "en") == {"initial_prompt": english}
    assert vocabulary.decode_options("prompt", "de") == {"initial_prompt": vocabulary.prompt}
    assert vocabulary.decode_options("prompt", None) == {"initial_prompt": vocabulary.prompt}  # detected later


def test_the_prompt_language_is_the_setting_or_english_for_the_english_only_model(tmp_path: Path) -> None:
    def heard(**overrides: Any) -> str | None:
        return WhisperTranscriber(make_settings(tmp_path, **overrides), model=object()).heard_language(object())

    assert heard() == "en"  # the bundled tiny.en
    assert heard(whisper_model="base") is None  # multilingual, detecting: the language is known only later
    assert heard(whisper_model="base", whisper_language="de") == "de"
    assert heard(whisper_model="base", whisper_language="en") == "en"


def test_the_decode_options_follow_the_hint_mode() -> None:
    vocabulary = data_vocabulary()
    assert vocabulary.decode_options("off") == {}
    assert vocabulary.decode_options("prompt") == {"initial_prompt": vocabulary.prompt}
    assert vocabulary.decode_options("hotwords") == {"hotwords": vocabulary.hotwords}
    assert set(vocabulary.decode_options("both")) == {"initial_prompt", "hotwords"}
    assert Vocabulary(names=(), terms=()).decode_options("prompt") == {}  # no menu, nothing told


def test_a_menu_change_gives_another_vocabulary() -> None:
    menu, cafe = load_menu(MENU)[0], load_cafe(CAFE)[0]
    renamed = menu.model_copy(update={"categories": tuple(
        c.model_copy(update={"items": tuple(i.model_copy(update={"name": "Cortadito"}) if i.id == "cortado" else i
                                            for i in c.items)})
        for c in menu.categories)})
    before, after = build_vocabulary(menu, cafe), build_vocabulary(renamed, cafe)
    assert "Cortadito" in after.prompt and "Cortado," not in after.prompt
    assert before.version != after.version


@pytest.mark.parametrize(("heard", "shown"), [
    ("Can I order three flat whites to take away?", "Can I order three Flat Whites to take away?"),
    ("a caffe latte and a blt", "a Caffè Latte and a BLT"),
    ("two pain au chocolat please", "two Pain au Chocolat please"),
    ("Is the red lentil soup vegan?", "Is the Red Lentil Soup vegan?"),
    ("any gluten free banana bread?", "any Gluten-free Banana Bread?"),
    ("FLAT-WHITE", "Flat White"),
    # The cafe's hyphenated words however Whisper joined them.
    ("What is the wifi password?", "What is the Wi-Fi password?"),
    ("is the wi fi free", "is the Wi-Fi free"),
    ("a wifey", "a wifey"),
    # Only whole names: parts, longer words and other words stay as they were heard.
    ("lentil soup and a latte", "lentil soup and a latte"),
    ("a flat whiteboard", "a flat whiteboard"),
    ("mochaccino", "mochaccino"),
    ("white flat", "white flat"),
    ("", ""),
])
def test_a_transcript_gets_the_menus_spelling_of_whole_item_names_only(heard: str, shown: str) -> None:
    assert data_vocabulary().respell(heard) == shown


def test_the_prompt_read_back_counts_as_an_echo() -> None:
    vocabulary = data_vocabulary()
    assert vocabulary.echoes(vocabulary.prompt)
    assert vocabulary.echoes("Espresso, Americano, Cappuccino, Flat White.")
    assert not vocabulary.echoes("Can I have an Espresso and a Cappuccino, please?")
    assert not vocabulary.echoes("")


def test_whisper_language_auto_means_detect() -> None:
    assert load_settings(_env_file=None, whisper_language="auto").whisper_language is None
    assert load_settings(_env_file=None, whisper_language="DE").whisper_language == "de"
    assert load_settings(_env_file=None).whisper_menu_hints == "prompt"
    assert load_settings(_env_file=None).whisper_beam_size == 5


# --- with the real model ------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_the_menu_vocabulary_reaches_the_decoder_and_spells_the_transcript(
    whisper: WhisperTranscriber, tmp_path: Path
) -> None:
    recording = RecordingModel(whisper.model)
    transcriber = WhisperTranscriber(make_settings(tmp_path), model=recording)
    vocabulary = data_vocabulary()
    try:
        transcript = await transcriber.transcribe(fixture_bytes("flat_whites.ogg"), vocabulary)
        plain = await transcriber.transcribe(fixture_bytes("flat_whites.ogg"))
    finally:
        await transcriber.stop()
    told, untold = recording.calls
    # The bundled model hears English only: it is told the English (lower-case) prompt.
    assert told["initial_prompt"] == vocabulary.english_prompt and told["beam_size"] == 5 and told["vad_filter"]
    assert "initial_prompt" not in untold and "hotwords" not in untold
    assert "Flat White" in transcript.text, transcript.text
    assert transcript.vocabulary == vocabulary.version and plain.vocabulary == ""


@pytest.mark.slow
@pytest.mark.parametrize("clip", [fixture_bytes("silent.ogg"), (DEV / "noise_only.ogg").read_bytes()],
                         ids=["silence", "noise"])
async def test_silence_and_noise_stay_nothing_heard_with_the_menu_in_the_prompt(
    whisper: WhisperTranscriber, clip: bytes
) -> None:
    transcript = await whisper.transcribe(clip, data_vocabulary())
    assert transcript.text == ""
    assert 0 < NO_SPEECH_MAX < 1


@pytest.mark.slow
async def test_the_development_set_stays_under_its_word_error_rate_bound(whisper: WhisperTranscriber) -> None:
    """Not exact words (they vary with the CPU's kernels): a bound on the English clips of the fixtures and the
    development notes (issue 17's measure: the project's fixtures plus other voices, some with noise), none
    leaking."""
    vocabulary = data_vocabulary()
    clips: list[Clip] = [c for c in dev_clips() if c.language in ("en", "")]
    assert len([c for c in clips if c.speech]) >= 24 and len([c for c in clips if c.noisy and c.speech]) >= 5
    results: list[tuple[str, str]] = []
    for clip in clips:
        text = (await whisper.transcribe(clip.path.read_bytes(), vocabulary)).text
        if clip.speech:
            results.append((clip.text, text))
        else:
            assert text == "", f"{clip.path.name} leaked {text!r}"
    wer = word_error_rate(results)
    report = "\n".join(f"  {ref!r} -> {hyp!r}" for ref, hyp in results if ref != hyp)
    print(f"\ndev WER {wer:.3f} over {len(results)} clips\n{report}")
    assert wer <= DEV_WER_BOUND, report


@pytest.mark.slow
async def test_a_voice_note_comes_out_in_the_menus_spelling_and_follows_a_menu_change(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path, whisper: WhisperTranscriber
) -> None:
    menu_path = tmp_path / "menu.yaml"
    shutil.copy(MENU, menu_path)
    settings = make_settings(tmp_path, telegram.url, menu_path=menu_path, **with_openai(openai_server))
    recording = RecordingModel(whisper.model)
    transcriber = WhisperTranscriber(settings, model=recording)
    openai_server.script("Three Flat Whites coming up!")
    try:
        async with running_app(settings, Seams(transcriber=transcriber)) as app:
            telegram.send_voice(CUSTOMER_ID, fixture_bytes("flat_whites.ogg"), duration=3)
            shown, _answer = await telegram.wait_for_messages(CUSTOMER_ID, 2, timeout=30)
            assert shown.text.startswith("🎤 ") and "Flat White" in shown.text, shown.text
            assert "cortado" in recording.calls[-1]["initial_prompt"]

            menu_path.write_text(MENU.read_text().replace("name: Cortado", "name: Cortadito"))
            telegram.send_text(ADMIN_ID, "/reload_menu")
            await telegram.wait_for_messages(ADMIN_ID)
            assert "Cortadito" in app.services.vocabulary.current.prompt
            telegram.send_voice(CUSTOMER_ID, (DEV / "noise_only.ogg").read_bytes(), duration=4)
            [reply] = await telegram.wait_for_messages(CUSTOMER_ID, 1, after=2, timeout=30)
            assert reply.text == NOTHING_HEARD  # noise, with the new menu in the prompt
            prompt = recording.calls[-1].get("initial_prompt", "")
            assert "cortadito" in prompt and "cortado," not in prompt
    finally:
        await transcriber.stop()


@pytest.mark.slow
async def test_german_voice_notes_with_the_multilingual_model(tmp_path: Path) -> None:
    """WHISPER_MODEL=base, the packaged multilingual model: German heard as German, menu words spelled."""
    settings = make_settings(tmp_path, whisper_model="base", whisper_language="de")
    transcriber = WhisperTranscriber(settings)
    vocabulary = data_vocabulary()
    german = [c for c in clips_in(DEV) if c.language == "de"][:2]
    try:
        results = [(c.text, await transcriber.transcribe(c.path.read_bytes(), vocabulary)) for c in german]
        status = transcriber.status()
    finally:
        await transcriber.stop()
    assert status.model == "base (multilingual, bundled)"
    assert all(t.language == "de" for _, t in results)
    assert "Cappuccino" in results[0][1].text, results[0][1].text
    assert word_error_rate([(ref, t.text) for ref, t in results]) <= GERMAN_WER_BOUND, results
