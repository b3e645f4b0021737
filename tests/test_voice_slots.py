"""Transcription places (unit): reserved before the download, given back exactly once on every path.

The transcriber is the real WhisperTranscriber with a stand-in speech model (audio decoding is
real), so the accounting under test is the one the bot runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.voice import AudioDecodeError, TranscriberBusy, TranscriberUnavailable, WhisperTranscriber
from testkit.settings import make_settings
from testkit.voice import fixture_bytes
from tests.voice_support import SaysModel


def places(transcriber: WhisperTranscriber) -> tuple[int, int, int]:
    """(reserved, queued, running): all zero when every place was given back."""
    status = transcriber.status()
    return status.reserved, status.queue, status.running


@pytest.fixture
async def transcriber(tmp_path: Path) -> Any:
    instance = WhisperTranscriber(make_settings(tmp_path, whisper_workers=1, whisper_queue_size=2), model=SaysModel())
    yield instance
    await instance.stop()


async def test_places_are_taken_at_reservation_and_the_one_too_many_is_busy(transcriber: WhisperTranscriber) -> None:
    slots = [transcriber.reserve() for _ in range(3)]  # one worker + two queue places
    assert places(transcriber) == (3, 0, 0)
    with pytest.raises(TranscriberBusy):
        transcriber.reserve()
    assert transcriber.status().rejected_busy == 1
    slots[0].release()
    slots[0].release()  # idempotent: a place is given back once
    assert places(transcriber) == (2, 0, 0)
    transcriber.reserve().release()
    for slot in slots[1:]:
        slot.release()
    assert places(transcriber) == (0, 0, 0)


async def test_a_used_place_is_given_back_when_its_transcription_ends(transcriber: WhisperTranscriber) -> None:
    async with transcriber.reserve() as slot:
        transcript = await slot.transcribe(fixture_bytes("oat_milk.ogg"))
        with pytest.raises(RuntimeError):
            await slot.transcribe(fixture_bytes("oat_milk.ogg"))  # one place, one transcription
    assert transcript.text == "Do you have oat milk?"
    assert places(transcriber) == (0, 0, 0) and transcriber.status().transcriptions == 1


async def test_a_corrupt_file_gives_its_place_back(transcriber: WhisperTranscriber) -> None:
    async with transcriber.reserve() as slot:
        with pytest.raises(AudioDecodeError):
            await slot.transcribe(fixture_bytes("corrupt.ogg"))
    assert places(transcriber) == (0, 0, 0)


async def test_a_handler_cancelled_mid_download_gives_its_place_back(transcriber: WhisperTranscriber) -> None:
    downloading = asyncio.Event()

    async def handler() -> None:
        async with transcriber.reserve():
            downloading.set()
            await asyncio.Event().wait()  # a download that never finishes

    task = asyncio.create_task(handler())
    await downloading.wait()
    assert places(transcriber) == (1, 0, 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert places(transcriber) == (0, 0, 0)


async def test_a_place_held_while_the_transcriber_stops_is_refused_and_given_back(
    transcriber: WhisperTranscriber,
) -> None:
    async with transcriber.reserve() as slot:
        await transcriber.stop()
        with pytest.raises(TranscriberUnavailable):
            await slot.transcribe(fixture_bytes("oat_milk.ogg"))
    assert places(transcriber) == (0, 0, 0)
    with pytest.raises(TranscriberUnavailable):
        transcriber.reserve()
