"""docs/RUNBOOK.md works: every command in it runs against a real application.

The test reads the runbook itself: every line of its ```bash blocks (curl calls against
the side server, `python main.py ...`, redis-cli) runs in a shell exactly as written, with
`$BOT`, `$ADMIN_API_TOKEN` and `$READ_TOKEN` pointing at a running bot that has a READ_TOKEN
set (a GET shown without it fails, unless it is a probe); every Telegram command it names is
sent by an admin through the fake Bot API; every endpoint it names is called by one of the
shell lines. A command that stops working, or a new one nobody runs, fails here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from bot.prompts import PROMPT_VERSION
from bot.services import Seams
from bot.voice import WhisperTranscriber
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import free_port
from testkit.settings import ADMIN_ID, ADMIN_TOKEN, TEST_TOKEN, make_settings, subprocess_env, with_openai
from tests.helpers import READ_TOKEN, in_ci, running_app

pytestmark = pytest.mark.slow

RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
STAFF_CHAT_ID = -100777
SEED_SECTIONS = ["Health Checks", "Common Incidents", "Cache Operations", "Rollback & Mitigations",
                 "SLO Targets (summary)", "Prompt Versioning", "Data Retention"]


def runbook() -> str:
    return RUNBOOK.read_text(encoding="utf-8")


def shell_lines(text: str) -> list[str]:
    """Every command line of the ```bash blocks, except the `export` lines that set the stage."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "export ")):
                lines.append(line)
    return lines


def endpoints(text: str) -> set[tuple[str, str]]:
    """`GET /path` and `POST /path ...` named anywhere in the text."""
    return {(m, p) for m, p in re.findall(r"`(GET|POST) (/[\w/.-]*)", text)}


def telegram_commands(text: str) -> list[str]:
    """Inline `/command args` spans (Telegram commands, not URL paths)."""
    return [c for c in re.findall(r"`(/[a-z_]+(?: [^`]*)?)`", text) if not c.startswith(("/api", "/metrics"))]


def curl_calls(lines: list[str]) -> set[tuple[str, str]]:
    calls = set()
    for line in lines:
        if line.startswith("curl "):
            method = "POST" if "-X POST" in line else "GET"
            path = re.search(r"\$BOT(/[\w/.-]*)", line)
            assert path, line
            calls.add((method, path.group(1)))
    return calls


def test_changelog_has_an_entry_for_the_prompt_version_in_force() -> None:
    """The runbook's rule: every prompt version is tracked in docs/CHANGELOG.md."""
    changelog = (ROOT / "docs" / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^#+ {re.escape(PROMPT_VERSION)}\b", changelog, flags=re.M), PROMPT_VERSION


def test_runbook_has_the_seed_sections_and_runs_every_endpoint_it_names() -> None:
    text = runbook()
    headings = re.findall(r"^#{2,3} (.+)$", text, flags=re.M)
    for section in SEED_SECTIONS:
        assert any(h.lower() == section.lower() for h in headings), section
    lines = shell_lines(text)
    named, called = endpoints(text), curl_calls(lines)
    assert named - called == set(), "endpoints the runbook names but never calls"
    assert {("GET", "/api/agent/chat"), ("GET", "/api/agent/whisper"), ("GET", "/api/cache")} <= called
    assert sum(1 for line in lines if line.startswith("python main.py")) >= 5
    assert "src/lib" not in text and "mjs" not in text.replace("test-telegram.mjs", "")


async def run_shell(line: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", line, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(errors="replace")


async def test_every_runbook_command_works_against_a_running_bot(
    telegram: FakeTelegram, openai_server: FakeOpenAI, redis_server, whisper: WhisperTranscriber, tmp_path: Path,
) -> None:
    for tool in ("curl", "redis-cli"):
        if shutil.which(tool) is None:
            if in_ci():
                pytest.fail(f"{tool} is required in CI")
            pytest.skip(f"{tool} not installed")
    port = free_port()
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server), redis_url=redis_server.url,
                             http_port=port, staff_chat_id=STAFF_CHAT_ID, read_token=READ_TOKEN)
    env = subprocess_env(
        BOT=f"http://127.0.0.1:{port}", ADMIN_API_TOKEN=ADMIN_TOKEN, READ_TOKEN=READ_TOKEN,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", TELEGRAM_BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_API_URL=telegram.url, STAFF_CHAT_ID=str(STAFF_CHAT_ID), ADMIN_IDS=str(ADMIN_ID),
        DATABASE_PATH=str(settings.database_path),
        REDIS_URL=redis_server.url, HTTP_PORT=str(port), HTTP_HOST="127.0.0.1",
        OPENAI_API_KEY=openai_server.api_key, OPENAI_BASE_URL=openai_server.url,
    )
    text = runbook()
    results: dict[str, tuple[int, str]] = {}
    async with running_app(settings, Seams(transcriber=whisper)):
        for line in shell_lines(text):
            results[line] = await run_shell(line, env)
        replies = {}
        for command in telegram_commands(text):
            before = len(telegram.sent_to(ADMIN_ID))
            telegram.send_text(ADMIN_ID, command)
            [reply] = await telegram.wait_for_messages(ADMIN_ID, after=before, timeout=30)
            replies[command] = reply.text

    failed = {line: out for line, (code, out) in results.items()
              if code != 0 and not (line.startswith("python main.py slo") and code == 1 and "NOT MET" in out)}
    assert failed == {}, json.dumps(failed, indent=2)[:4000]
    for line, (_, out) in results.items():
        if line.startswith("curl ") and "/metrics" not in line:
            json.loads(out)  # every endpoint answers JSON
    assert results['redis-cli -u "$REDIS_URL" ping'][1].strip() == "PONG"
    assert "SLO report (live from" in results["python main.py slo"][1]  # it sent READ_TOKEN and was let in
    assert telegram.sent_to(STAFF_CHAT_ID), "notify-test and /api/telegram/notify reach the staff group"
    for command, reply in replies.items():
        assert "Sorry" not in reply and "⚠️" not in reply, (command, reply)
    assert "history = 4" in replies["/limits history=4 tokens=200"]
