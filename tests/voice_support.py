"""Voice fixtures and a gate to hold a transcription inside its worker thread."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings
from bot.voice import WhisperTranscriber

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "voice"


@dataclass(frozen=True)
class SpeechFixture:
    file: str
    text: str

    @property
    def path(self) -> Path:
        return FIXTURES / self.file

    def read(self) -> bytes:
        return self.path.read_bytes()


def speech_fixtures() -> list[SpeechFixture]:
    spec = yaml.safe_load((FIXTURES / "references.yaml").read_text(encoding="utf-8"))
    return [SpeechFixture(item["file"], item["text"]) for item in spec["speech"]]


def reference(name: str) -> str:
    """What was said in a speech fixture (references.yaml)."""
    return next(f.text for f in speech_fixtures() if f.file == name)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


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
