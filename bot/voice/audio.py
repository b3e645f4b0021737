"""Bounded audio decoding with PyAV (bundled FFmpeg: no system ffmpeg needed).

faster-whisper's own `decode_audio` decodes the whole file into memory first; a
20 MB upload of low-bitrate Opus can hold hours of audio (hundreds of MB as
float samples). This decoder stops as soon as the audio passes the limit.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from bot.voice.transcriber import AudioDecodeError, AudioTooLong

if TYPE_CHECKING:
    import av

SAMPLE_RATE = 16_000  # what Whisper's feature extractor expects
_SLACK_SECONDS = 1.0  # declared durations are rounded; don't refuse a note for a fraction of a second


def decode(data: bytes, max_seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Encoded audio (or the audio track of a video) -> mono float32 samples at `sample_rate`.

    Raises AudioDecodeError for anything that is not decodable audio and
    AudioTooLong once more than `max_seconds` (plus a second of slack) is decoded.
    """
    import av  # here, not at the top: PyAV's import is not worth making the bot's start wait for

    if not data:
        raise AudioDecodeError("empty file")
    limit = int((max_seconds + _SLACK_SECONDS) * sample_rate)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioDecodeError("no audio track")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            for frame in _frames(container):
                frame.pts = None  # timestamps of broken files confuse the resampler; order is enough
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    total += samples.shape[0]
                    if total > limit:
                        raise AudioTooLong(total / sample_rate, max_seconds)
                    chunks.append(samples)
            for out in resampler.resample(None):
                samples = out.to_ndarray().reshape(-1)
                total += samples.shape[0]
                chunks.append(samples)
    except (AudioDecodeError, AudioTooLong):
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise AudioDecodeError(f"not decodable audio ({type(exc).__name__})") from None
    if total == 0:
        raise AudioDecodeError("no audio samples")
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def _frames(container: av.container.InputContainer) -> Iterator[av.AudioFrame]:
    """Audio frames, skipping single undecodable frames (a glitch mid-file is not a reason to give up)."""
    import av
    frames = container.decode(audio=0)
    skipped = 0
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            skipped += 1
            if skipped > 50:
                raise
