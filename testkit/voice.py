"""The speech fixtures (tests/fixtures/voice): recorded menu questions with what was said, and broken audio."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from testkit import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "voice"


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


# --- clip sets for word error rates (tests/test_voice_transcriber.py, bench/whisper_bench.py) ---------------
DEV = ROOT / "bench" / "data" / "voice_dev"
HELDOUT = ROOT / "bench" / "data" / "voice_heldout"
HELDOUT2 = ROOT / "bench" / "data" / "voice_heldout2"
HELDOUT3 = ROOT / "bench" / "data" / "voice_heldout3"


@dataclass(frozen=True)
class Clip:
    """One recording of a set: what was said ("" for a clip with no speech) and in which language."""

    path: Path
    text: str
    language: str = "en"
    noisy: bool = False

    @property
    def speech(self) -> bool:
        return bool(self.text)


def clips_in(folder: Path) -> list[Clip]:
    """The clips a references.yaml lists: `speech` items (`clips` in the held-out set's format), then the
    no-speech ones (`silent`, `noise`)."""
    spec = yaml.safe_load((folder / "references.yaml").read_text(encoding="utf-8"))
    clips = [Clip(folder / item["file"], item["text"], str(item.get("language", "en")),
                  item.get("noise") not in (None, "none", False, 0))
             for item in spec.get("speech") or spec.get("clips") or []]
    for key in ("silent", "noise"):
        entries = spec.get(key) or []
        for entry in entries if isinstance(entries, list) else [entries]:
            clips.append(Clip(folder / entry["file"], "", "", key == "noise"))
    return clips


def dev_clips() -> list[Clip]:
    """The development set: the test fixtures and bench/data/voice_dev (what the decoding was tuned on)."""
    return clips_in(FIXTURES) + clips_in(DEV)


def frozen_clips(folder: Path) -> list[Clip]:
    """The clips of a frozen set, after checking its files against the sums its FROZEN.md published: a set
    that was edited after it was frozen is refused, not measured."""
    frozen = (folder / "FROZEN.md").read_text(encoding="utf-8")
    references = hashlib.sha256((folder / "references.yaml").read_bytes()).hexdigest()
    audio = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.ogg"), key=lambda p: p.name)))
    for what, digest in (("references.yaml", references), ("the clips", audio.hexdigest())):
        if digest not in frozen:
            raise ValueError(f"{folder.name}: {what} do not match the sums in FROZEN.md ({digest[:12]}...)")
    return clips_in(folder)
