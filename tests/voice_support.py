"""A gate to hold a transcription inside its worker thread (the voice fixtures are in testkit.voice)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.config import Settings
from bot.voice import WhisperTranscriber


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
