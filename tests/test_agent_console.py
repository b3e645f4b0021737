"""`python main.py chat`: the console conversation, as a person would use it (a real child process)."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.console import run_console
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.settings import make_settings, subprocess_env, with_openai


def run_chat(lines: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "chat"], input="\n".join(lines) + "\n", text=True,
        capture_output=True, env=env, cwd=cwd, timeout=120,
    )


def sunday_label(now: datetime) -> str:
    """How the answer names Sunday on the cafe's calendar day at `now` (Europe/Berlin in the shipped cafe.yaml)."""
    weekday = now.astimezone(ZoneInfo("Europe/Berlin")).weekday()
    return {6: "Sunday (today)", 5: "Sunday (tomorrow)"}.get(weekday, "Sunday")


async def test_console_chat_in_limited_mode_answers_from_the_menu(tmp_path: Path) -> None:
    """The real `python main.py chat`, its calendar set through the environment: a Sunday, as an operator could."""
    sunday = "2026-06-07T11:00:00+02:00"
    env = subprocess_env(DATABASE_PATH=str(tmp_path / "bot.db"), CLOCK_FROZEN_AT=sunday)
    result = await asyncio.to_thread(
        run_chat, ["When are you open on Sunday?", "Anything vegan?", "/reset", "wifi?", "/quit"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "limited mode" in out
    assert "Sunday (today): open 09:00–16:00" in out
    assert "Vegan Brownie — €3.90" in out
    assert "flatwhite2024" in out and "Fresh start." in out
    assert "[offline · " in out


async def test_console_names_sunday_by_the_cafes_calendar_on_any_day(tmp_path: Path, wall_clock: FrozenClock) -> None:
    """In process, on the frozen wall clock (CI: several days and time zones); this failed on Sundays before."""
    lines = iter(["When are you open on Sunday?"])

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    assert await run_console(make_settings(tmp_path), read=read, out=out) == 0  # CLOCK_FROZEN_AT from wall_clock
    assert f"{sunday_label(wall_clock.now())}: open 09:00–16:00" in out.getvalue()


async def test_console_chat_uses_the_model_server(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    """In process (the subprocess path is covered above): the console reads lines until EOF."""
    openai_server.script("We have three kinds of croissant.")
    lines = iter(["Croissants?", ""])

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    settings = make_settings(tmp_path, **with_openai(openai_server))
    assert await run_console(settings, read=read, out=out, user_id=9) == 0
    assert "bot> We have three kinds of croissant." in out.getvalue() and "[llm · " in out.getvalue()
    assert openai_server.api_key not in out.getvalue()


@pytest.mark.parametrize(("at", "label"), [
    (datetime(2026, 6, 6, 12, 0, tzinfo=UTC), "Sunday (tomorrow)"),  # Saturday
    (datetime(2026, 6, 7, 21, 59, tzinfo=UTC), "Sunday (today)"),  # Sunday 23:59 in Berlin
    (datetime(2026, 6, 7, 22, 0, tzinfo=UTC), "Sunday"),  # Monday 00:00 in Berlin, still Sunday in UTC
    (datetime(2026, 6, 10, 9, 0, tzinfo=UTC), "Sunday"),  # Wednesday
])
def test_the_expected_sunday_label_follows_the_cafes_calendar(at: datetime, label: str) -> None:
    assert sunday_label(at) == label
