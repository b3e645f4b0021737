"""Let the cafe's word model choose among the decoder's best readings of a voice note.

faster-whisper asks CTranslate2's Whisper for one reading per 30 s window and keeps the first. Beam search
has several at no extra cost (`num_hypotheses`), and the tiny model's order of them is often a coin toss
between sound-alikes ("the yum and quasant" / "the almond croissant"). `ReadingsDecoder` stands in for the
CTranslate2 model inside faster-whisper's `WhisperModel` (its `.model`) and, while a `chooser` is in force on
the calling thread, asks for the beam's readings and puts the chosen one first: faster-whisper's own
segmenting, timestamps, fallbacks and no-speech checks then run on it unchanged.

The chooser (`Vocabulary.choose`, bot/voice/vocabulary.py) sees each reading's text and the decoder's
log-probability and returns the index of the one to keep. Without a chooser (other languages, hints off,
the warm-up) the decoder is passed through untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# (text, decoder log-probability of the whole reading) per reading -> index of the reading to keep.
Chooser = Callable[[Sequence[tuple[str, float]]], int]


@dataclass(frozen=True)
class Reading:
    """What faster-whisper reads of a generation result (`WhisperGenerationResult`): the kept reading first."""

    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float


class ReadingsDecoder:
    """CTranslate2's Whisper with the chosen reading first; everything else is the wrapped model's."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self._model = model
        self._tokenizer = tokenizer  # tokenizers.Tokenizer of the model (WhisperModel.hf_tokenizer)
        self._end = tokenizer.token_to_id("<|endoftext|>")
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @contextmanager
    def choosing(self, chooser: Chooser | None) -> Iterator[None]:
        """Within the block, this thread's generations keep the reading `chooser` picks (None: the decoder's)."""
        before = getattr(self._local, "chooser", None)
        self._local.chooser = chooser
        try:
            yield
        finally:
            self._local.chooser = before

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
        if len(sequences) < 2:
            return result
        readings = []
        for ids, score in zip(sequences, scores, strict=True):
            # CTranslate2 returns the log-probability divided by length ** length_penalty; undo it so that
            # readings of different lengths compare as wholes (the word model scores wholes too).
            text = self._tokenizer.decode([i for i in ids if i < self._end])
            readings.append((text.strip(), score * max(len(ids), 1) ** length_penalty))
        kept = chooser(readings)
        if not 0 <= kept < len(sequences):
            kept = 0
        order = [kept, *(i for i in range(len(sequences)) if i != kept)]
        return Reading([sequences[i] for i in order], [scores[i] for i in order], result.no_speech_prob)


def readings_decoder(whisper_model: Any) -> ReadingsDecoder | None:
    """The `ReadingsDecoder` inside a faster-whisper `WhisperModel`, put there on first use; None for a stand-in
    model without CTranslate2 inside (tests' fakes)."""
    inner = getattr(whisper_model, "model", None)
    if isinstance(inner, ReadingsDecoder):
        return inner
    tokenizer = getattr(whisper_model, "hf_tokenizer", None)
    if inner is None or tokenizer is None or not hasattr(inner, "generate"):
        return None
    decoder = ReadingsDecoder(inner, tokenizer)
    whisper_model.model = decoder
    return decoder
