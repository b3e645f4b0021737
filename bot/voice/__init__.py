"""Voice notes: speech to text behind a small protocol, with the faster-whisper implementation."""

from bot.voice.transcriber import (
    MAX_AUDIO_BYTES,
    AudioDecodeError,
    AudioTooLong,
    Transcriber,
    TranscriberBusy,
    TranscriberStatus,
    TranscriberUnavailable,
    Transcript,
    TranscriptionError,
    TranscriptionSlot,
)
from bot.voice.whisper import WhisperTranscriber, build_transcriber

__all__ = [
    "MAX_AUDIO_BYTES",
    "AudioDecodeError",
    "AudioTooLong",
    "Transcriber",
    "TranscriberBusy",
    "TranscriberStatus",
    "TranscriberUnavailable",
    "Transcript",
    "TranscriptionError",
    "TranscriptionSlot",
    "WhisperTranscriber",
    "build_transcriber",
]
