"""How a voice note is decoded, around CTranslate2's Whisper: the encoder's window sized to the note, and the
beam's readings chosen by the cafe's word model.

`CafeDecoder` stands in for the CTranslate2 model inside faster-whisper's `WhisperModel` (its `.model`);
faster-whisper's own segmenting, timestamps, fallbacks and no-speech checks run unchanged around it. What it
does is set per call on the calling thread (`tuned`), so one loaded model serves transcribers with other
settings (the tests share one).

**The encoder's window.** Whisper hears 30 s at a time; a 4 s note is padded to 30 s and the encoder's cost
(most of a short note's, and quadratic in the window) is spent on padding. CTranslate2's encoder takes a
shorter input, so `pad_frames` keeps the speech plus that much padding (`WHISPER_PAD_SECONDS`). The models were
trained on whole windows: for the multilingual base it costs no accuracy at 15 s of padding (it even helped on
the development notes) and halves the CPU; the English tiny model lost words, so it keeps its whole window
(docs/BENCHMARKS.md "The encoder's window").

**The readings.** faster-whisper asks CTranslate2's Whisper for one reading per window and keeps the first.
Beam search has several at no extra cost (`num_hypotheses`), and the tiny model's order of them is often a
coin toss between sound-alikes ("the yum and quasant" / "the almond croissant"). While a `chooser` is in force,
the decoder asks for the beam's readings and puts the chosen one first. The chooser (`Vocabulary.choose`,
bot/voice/vocabulary.py) sees each reading's text and the decoder's log-probability and returns the index of
the one to keep. Without a chooser (other languages, hints off, the warm-up) the beam's first reading is kept.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# (text, decoder log-probability of the whole reading) per reading -> index of the reading to keep.
Chooser = Callable[[Sequence[tuple[str, float]]], int]


@dataclass(frozen=True)
class Reading:
    """What faster-whisper reads of a generation result (`WhisperGenerationResult`): the kept reading first."""

    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float


# Whisper's log-mel frames per second; the window is cut to whole seconds.
FRAMES_PER_SECOND = 100


def content_frames(features: np.ndarray) -> int:
    """How many frames of a padded window (batch, mels, frames) carry audio: faster-whisper pads with zeros."""
    filled = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
    return int(filled[-1]) + 1 if len(filled) else 1


class CafeDecoder:
    """CTranslate2's Whisper with the window sized and the chosen reading first; the rest is the wrapped model's."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self._model = model
        self._tokenizer = tokenizer  # tokenizers.Tokenizer of the model (WhisperModel.hf_tokenizer)
        self._end = tokenizer.token_to_id("<|endoftext|>")
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @contextmanager
    def tuned(self, chooser: Chooser | None = None, pad_frames: int | None = None) -> Iterator[None]:
        """Within the block, this thread's generations keep the reading `chooser` picks (None: the beam's first)
        and its encodings see the audio plus `pad_frames` of padding (None: the whole window)."""
        before = getattr(self._local, "chooser", None), getattr(self._local, "pad_frames", None)
        self._local.chooser, self._local.pad_frames = chooser, pad_frames
        try:
            yield
        finally:
            self._local.chooser, self._local.pad_frames = before

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        pad: int | None = getattr(self._local, "pad_frames", None)
        if pad is not None:
            window = np.asarray(features)
            keep = -(-(content_frames(window) + pad) // FRAMES_PER_SECOND) * FRAMES_PER_SECOND
            if keep < window.shape[-1]:
                import ctranslate2

                features = ctranslate2.StorageView.from_array(np.ascontiguousarray(window[..., :keep]))
        return self._model.encode(features, to_cpu=to_cpu)

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> list[Any]:
        chooser: Chooser | None = getattr(self._local, "chooser", None)
        beam = int(options.get("beam_size", 1))
        if chooser is None or (beam < 2 and int(options.get("num_hypotheses", 1)) < 2):
            return self._model.generate(features, prompts, **options)
        if beam >= 2:
            options["num_hypotheses"] = beam
        results = self._model.generate(features, prompts, **options)
        return [self._choose(result, chooser, options.get("length_penalty", 1.0)) for result in results]

    def _choose(self, result: Any, chooser: Chooser, length_penalty: float) -> Any:
        sequences, scores = list(result.sequences_ids), list(result.scores)
        if len(sequences) < 2 or len(scores) != len(sequences):  # nothing to choose, or no scores asked for
            return result
        readings = []
        for ids, score in zip(sequences, scores, strict=True):
            # CTranslate2 returns the log-probability divided by length ** length_penalty; undo it so that
            # readings of different lengths compare as wholes (the word model scores wholes too).
            text = self._tokenizer.decode([i for i in ids if i < self._end])
            readings.append((text.strip(), score * max(len(ids), 1) ** length_penalty))
        try:
            kept = chooser(readings)
        except Exception:  # a fault in choosing must not cost the customer the note: the beam's first reading
            log.exception("choosing among %d readings failed; keeping the decoder's first", len(readings))
            kept = 0
        if not 0 <= kept < len(sequences):
            kept = 0
        order = [kept, *(i for i in range(len(sequences)) if i != kept)]
        return Reading([sequences[i] for i in order], [scores[i] for i in order], result.no_speech_prob)


def cafe_decoder(whisper_model: Any) -> CafeDecoder | None:
    """The `CafeDecoder` inside a faster-whisper `WhisperModel`, put there on first use; None for a stand-in
    model without CTranslate2 inside (tests' fakes)."""
    inner = getattr(whisper_model, "model", None)
    if isinstance(inner, CafeDecoder):
        return inner
    tokenizer = getattr(whisper_model, "hf_tokenizer", None)
    if inner is None or tokenizer is None or not hasattr(inner, "generate"):
        return None
    decoder = CafeDecoder(inner, tokenizer)
    whisper_model.model = decoder
    return decoder
