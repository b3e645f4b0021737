"""Stand-ins for faster-whisper's model in the transcriber's tests, and a gate to hold a transcription inside its
worker thread (the voice fixtures are in testkit.voice)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.voice import WhisperTranscriber


@dataclass
class Segment:
    """What the transcriber reads of faster-whisper's Segment."""

    text: str
    no_speech_prob: float = 0.0


@dataclass
class Info:
    """What the transcriber reads of faster-whisper's TranscriptionInfo."""

    language: str = "en"
    language_probability: float = 1.0
    duration_after_vad: float = 1.0


class SaysModel:
    """A stand-in decoder: every note "says" `text`, in `language`, at once."""

    def __init__(self, text: str = "Do you have oat milk?", language: str = "en") -> None:
        self.text, self.language = text, language

    def transcribe(self, *_args: Any, **_kwargs: Any) -> tuple[list[Segment], Info]:
        return [Segment(self.text)], Info(self.language)


class HearsModel(SaysModel):
    """A multilingual stand-in that remembers the language each note was decoded in (None: detected)."""

    supported_languages = ("en", "de", "fr")

    def __init__(self, text: str, language: str) -> None:
        super().__init__(text, language)
        self.told: list[str | None] = []

    def transcribe(self, *args: Any, **options: Any) -> tuple[list[Segment], Info]:
        self.told.append(options.get("language"))
        return super().transcribe(*args, **options)


class GatedModel:
    """The real faster-whisper model, except that each transcribe() first waits for `gate`.

    It runs in the transcriber's worker thread, so a test can hold a transcription
    mid-flight (`entered` tells it has started) and watch what the bot does meanwhile.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        if not self.gate.wait(60):
            raise TimeoutError("the test never opened the gate")
        return self._model.transcribe(*args, **kwargs)


@asynccontextmanager
async def gated_transcriber(settings: Settings, whisper: WhisperTranscriber
                            ) -> AsyncIterator[tuple[GatedModel, WhisperTranscriber]]:
    """A transcriber on the shared model whose transcriptions wait for `gated.gate`; opened and stopped after."""
    gated = GatedModel(whisper.model)
    transcriber = WhisperTranscriber(settings, model=gated)
    try:
        yield gated, transcriber
    finally:
        gated.gate.set()
        await transcriber.stop()
