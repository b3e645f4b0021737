"""Regenerate the voice-note fixtures in tests/fixtures/voice/ (or another folder) from references.yaml.

Speech comes from flite or espeak-ng (several speakers), is resampled and padded
by sox, and is encoded by PyAV (libopus) into 48 kHz mono OGG/Opus, the format of
Telegram voice notes. Needs `apt-get install flite espeak-ng sox`; CI never runs
this, it uses the committed files.

    .venv/bin/python scripts/make_voice_fixtures.py [FOLDER]   # default: tests/fixtures/voice

A speech item may add `noise: 0.03` (the level of steady background noise mixed in, seeded, so
the file is reproducible) and `language: de` (for espeak-ng's voices; the reference's language).
Optional top-level entries: `silent` (near-silence), `noise` (noise and no speech), `corrupt`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import yaml

FOLDER = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voice"
RATE = 48_000
BITRATE = 32_000  # Telegram voice notes are Opus at roughly 16-64 kbit/s


def _mux_audio(container: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray,
               frame_size: int) -> None:
    """Encode mono float samples in [-1, 1] at 48 kHz frame by frame (the last frame zero-padded)."""
    pcm = np.clip(samples * 32767, -32768, 32767).astype(np.int16)
    for start in range(0, len(pcm), frame_size):
        chunk = pcm[start:start + frame_size]
        chunk = np.pad(chunk, (0, frame_size - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def encode_opus(samples: np.ndarray, target: Path) -> None:
    """A Telegram-style voice note: OGG/Opus, 48 kHz mono, 20 ms frames."""
    with av.open(str(target), mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="mono")
        stream.bit_rate = BITRATE
        _mux_audio(container, stream, samples, frame_size=960)


def encode_video_note(samples: np.ndarray, target: Path) -> None:
    """A Telegram-style video note: square H.264 video (a plain frame) plus AAC audio, in MP4."""
    with av.open(str(target), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=10)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=RATE, layout="mono")
        image = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90, dtype=np.uint8), format="rgb24")
        for _ in range(int(len(samples) / RATE * 10) + 1):
            container.mux(video.encode(image))
        container.mux(video.encode(None))
        _mux_audio(container, audio, samples, frame_size=1024)


def speak(text: str, engine: str, voice: str, workdir: Path) -> np.ndarray:
    """TTS -> wav; sox -> 48 kHz mono, normalised, with 0.4 s of room before and after."""
    raw, padded = workdir / "raw.wav", workdir / "padded.raw"
    if engine == "flite":
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(raw)], check=True)
    elif engine == "espeak-ng":
        subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(raw), text], check=True)
    else:
        raise ValueError(f"unknown TTS engine {engine!r}")
    subprocess.run(
        ["sox", str(raw), "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-r", str(RATE), str(padded),
         "gain", "-n", "-3", "pad", "0.4", "0.4"],
        check=True,
    )
    return np.frombuffer(padded.read_bytes(), dtype=np.int16).astype(np.float32) / 32768.0


def background_noise(length: int, level: float, seed: int) -> np.ndarray:
    """`length` samples of steady, mostly low-frequency noise (a busy room, a fan): white noise, partly low-passed."""
    rng = np.random.default_rng(seed)
    white = rng.normal(0, 1, length).astype(np.float32)
    smoothed = np.empty_like(white)
    acc = 0.0
    alpha = 0.15
    for i, value in enumerate(white):  # a few seconds of audio: fast enough in plain Python
        acc += alpha * (value - acc)
        smoothed[i] = acc
    mixed = 0.6 * smoothed / (np.std(smoothed) or 1.0) + 0.4 * white
    return (level * mixed / np.std(mixed)).astype(np.float32)


def main() -> int:
    for tool in ("flite", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: apt-get install -y flite espeak-ng sox", file=sys.stderr)
            return 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=FOLDER, help="holds references.yaml")
    folder: Path = parser.parse_args().folder
    spec = yaml.safe_load((folder / "references.yaml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        for number, item in enumerate(spec["speech"]):
            samples = speak(item["text"], item["engine"], item["voice"], Path(tmp))
            if item.get("noise"):
                samples = samples + background_noise(len(samples), float(item["noise"]), seed=number)
                samples = np.clip(samples, -1.0, 1.0)
            target = folder / item["file"]
            if target.suffix == ".mp4":
                encode_video_note(samples, target)
            else:
                encode_opus(samples, target)
            print(f"{item['file']}: {len(samples) / RATE:.1f}s  {item['text']}")
    if silent := spec.get("silent"):
        rng = np.random.default_rng(7)
        encode_opus(rng.normal(0, 0.0005, int(silent["seconds"] * RATE)).astype(np.float32), folder / silent["file"])
        print(f"{silent['file']}: {silent['seconds']}s of near-silence")
    if noise := spec.get("noise"):
        encode_opus(background_noise(int(noise["seconds"] * RATE), noise["level"], seed=99), folder / noise["file"])
        print(f"{noise['file']}: {noise['seconds']}s of noise, no speech")
    if corrupt := spec.get("corrupt"):
        garbage = np.random.default_rng(11).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        (folder / corrupt["file"]).write_bytes(b"OggS\x00\x02" + b"\x00" * 20 + garbage)
        print(f"{corrupt['file']}: Ogg header + 4 KiB of garbage")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
