"""The speech fixtures (tests/fixtures/voice): recorded menu questions with what was said, and broken audio."""

from __future__ import annotations

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
