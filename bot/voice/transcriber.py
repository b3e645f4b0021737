"""What the bot needs from a speech-to-text engine, and what it gets back.

The handler and the side server depend on this small protocol only; the one real
implementation is `bot.voice.whisper.WhisperTranscriber`. Tests hand an
already-loaded transcriber in through `Seams.transcriber`, so the model loads
once per test session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from bot.voice.vocabulary import Vocabulary

# Telegram's Bot API lets bots download files of up to 20 MB; the upload endpoint uses the same limit.
MAX_AUDIO_BYTES = 20 * 1024 * 1024


class TranscriptionError(Exception):
    """Base class: the audio could not be turned into text (the message is safe to log)."""


class TranscriberBusy(TranscriptionError):
    """Every worker is busy and the queue is full: try again in a moment."""


class TranscriberUnavailable(TranscriptionError):
    """The model is not loaded (it failed to load, or the transcriber was stopped)."""


class AudioDecodeError(TranscriptionError):
    """The bytes are not audio we can decode (corrupt, truncated, or another kind of file)."""


class AudioTooLong(TranscriptionError):
    """The decoded audio is longer than WHISPER_MAX_SECONDS (the declared duration lied or was missing)."""

    def __init__(self, seconds: float, limit: float) -> None:
        super().__init__(f"audio longer than {limit:.0f}s (decoded {seconds:.0f}s so far)")
        self.seconds = seconds
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str  # empty when nothing intelligible was heard
    language: str
    language_probability: float
    duration: float  # seconds of audio decoded
    speech_duration: float  # seconds left after voice activity detection
    queue_seconds: float  # waiting for a worker (and for the model to load)
    decode_seconds: float
    transcribe_seconds: float
    vocabulary: str = ""  # the version of the menu vocabulary the decoder was told ("" = none)

    @property
    def processing_seconds(self) -> float:
        return self.decode_seconds + self.transcribe_seconds

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (lower is faster)."""
        return self.processing_seconds / self.duration if self.duration > 0 else 0.0


@dataclass(frozen=True, slots=True)
class TranscriberStatus:
    """What GET /api/agent/whisper reports."""

    status: Literal["ok", "loading", "error"]
    model: str
    device: str
    compute_type: str
    loaded: bool
    queue: int  # transcriptions waiting for a worker
    running: int  # transcriptions in a worker now
    transcriptions: int  # finished since start (with or without speech)
    failures: int  # undecodable audio, too long, or engine errors
    rejected_busy: int  # refused because the queue was full (at reservation, before any download)
    avg_rtf: float | None  # mean real-time factor of the finished transcriptions
    workers: int
    cpu_threads: int
    queue_size: int
    error: str | None = None
    reserved: int = 0  # places held by voice notes still being downloaded

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TranscriptionSlot:
    """A place among the transcriber's workers and queue, held from before a download to the end.

    Reserving first means a flood of voice notes costs one refusal each ("busy") instead of a
    download each: only as many notes as there are places are ever downloaded at once. The
    place is given back exactly once: by the transcription (when its job ends), or on leaving
    the `async with` block unused (download failed, file refused, handler cancelled).
    """

    def __init__(self, run: Callable[[bytes, Vocabulary | None, str | None], Awaitable[Transcript]],
                 release: Callable[[], None]) -> None:
        self._run = run  # takes the place over: gives it back when the job ends
        self._release = release
        self._state: Literal["held", "used", "released"] = "held"

    async def transcribe(self, audio: bytes, vocabulary: Vocabulary | None = None,
                         language: str | None = None) -> Transcript:
        """`vocabulary`: the cafe's words to tell the decoder and to spell the transcript with; `language`: the
        customer's (what a multilingual model hears the note in unless WHISPER_LANGUAGE says otherwise)."""
        if self._state != "held":
            raise RuntimeError(f"transcription slot already {self._state}")
        self._state = "used"
        return await self._run(audio, vocabulary, language)

    def release(self) -> None:
        """Give the place back if it was not used (idempotent)."""
        if self._state == "held":
            self._state = "released"
            self._release()

    async def __aenter__(self) -> TranscriptionSlot:
        return self

    async def __aexit__(self, _exc_type: type[BaseException] | None, _exc: BaseException | None,
                        _tb: TracebackType | None) -> None:
        self.release()


class Transcriber(Protocol):
    """Speech to text that never blocks the event loop and refuses work when full."""

    async def start(self) -> None:
        """Begin loading the model (may return before it is loaded)."""

    async def stop(self) -> None: ...

    def reserve(self) -> TranscriptionSlot:
        """A place for one transcription, taken now (before the audio is fetched).

        Raises TranscriberBusy when every worker and queue place is taken, TranscriberUnavailable
        when the model is not there; the slot's transcribe() raises as transcribe() does.
        """
        ...

    async def transcribe(self, audio: bytes, vocabulary: Vocabulary | None = None,
                         language: str | None = None) -> Transcript:
        """Encoded audio (OGG/Opus, MP3, M4A, MP4, WAV, ...) to text (reserve and use a slot in one go).

        Raises TranscriberBusy, TranscriberUnavailable, AudioDecodeError or AudioTooLong.
        """
        ...

    def status(self) -> TranscriberStatus: ...
