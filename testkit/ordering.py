"""Where orders go: a staff group with one member, and a cafe that is always open."""

from __future__ import annotations

from pathlib import Path

import yaml

from testkit import ROOT

STAFF_CHAT = -1001234567890
STAFF_MEMBER = 5005


def always_open_cafe(tmp_path: Path) -> Path:
    """The shipped cafe.yaml, open around the clock, so checkout works whenever the tests run."""
    cafe = yaml.safe_load((ROOT / "data" / "cafe.yaml").read_text(encoding="utf-8"))
    cafe["hours"] = {day: "00:00-24:00" for day in cafe["hours"]}
    cafe["kitchen_closes_before_minutes"] = 0
    cafe.pop("closures", None)
    path = tmp_path / "cafe.yaml"
    path.write_text(yaml.safe_dump(cafe, allow_unicode=True), encoding="utf-8")
    return path
