"""`python main.py chat`: the console conversation, as a person would use it (a real child process)."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path

from bot.console import run_console
from tests.fakes.openai import FakeOpenAI
from tests.helpers import ROOT, make_settings, subprocess_env, with_openai


def run_chat(lines: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "chat"], input="\n".join(lines) + "\n", text=True,
        capture_output=True, env=env, cwd=cwd, timeout=120,
    )


async def test_console_chat_in_limited_mode_answers_from_the_menu(tmp_path: Path) -> None:
    env = subprocess_env(DATABASE_PATH=str(tmp_path / "bot.db"))
    result = await asyncio.to_thread(
        run_chat, ["When are you open on Sunday?", "Anything vegan?", "/reset", "wifi?", "/quit"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "limited mode" in out
    assert "Sunday: open 09:00–16:00" in out
    assert "Vegan Brownie — €3.90" in out
    assert "flatwhite2024" in out and "Fresh start." in out
    assert "[offline · " in out


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
