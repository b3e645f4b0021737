"""`python main.py chat`: talk to the agent in a terminal, no Telegram needed.

The same agent, database, menu and model settings as the bot; each answer is followed by
where it came from and how long it took. `/reset` starts a new dialog, `/quit` (or
Ctrl-D) leaves.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from bot.config import Settings
from bot.services import Seams, build_services
from storage.db import Database

CONSOLE_USER_ID = 0  # Telegram ids are positive; 0 keeps console dialogs apart from real customers


async def run_console(
    settings: Settings, *, user_id: int = CONSOLE_USER_ID, read: Callable[[str], str] = input,
    out: TextIO = sys.stdout, seams: Seams | None = None,
) -> int:
    async with Database(settings.database_target) as db:
        services = build_services(settings, db, seams or Seams())
        started = []
        try:
            for component in services.components:
                if component is services.transcriber:
                    continue  # no voice notes in a terminal: don't load Whisper
                await component.start()
                started.append(component)
            agent = services.agent
            mode = "limited mode (no OPENAI_API_KEY): answers from the menu and facts" if agent.limited \
                else f"model {settings.openai_model}"
            print(f"{services.knowledge.cafe.name} — agent console, {mode}, prompt {agent.prompt_version}.",
                  file=out)
            print("Ask a question; /reset starts over, /quit leaves.", file=out, flush=True)
            while True:
                try:
                    line = await asyncio.to_thread(read, "you> ")
                except EOFError:
                    print(file=out)
                    break
                text = line.strip()
                if not text:
                    continue
                if text in ("/quit", "/exit"):
                    break
                if text == "/reset":
                    await agent.dialogs.reset(user_id)
                    print("bot> Fresh start.", file=out, flush=True)
                    continue
                if len(text) > settings.max_input_chars:
                    print(f"bot> Please keep questions under {settings.max_input_chars} characters.", file=out)
                    continue
                reply = await agent.answer(user_id, text, kind="console")
                print(f"bot> {reply.answer}", file=out)
                detail = f"{reply.source} · {reply.latency_ms:.0f} ms · {reply.model}"
                if reply.error_class:
                    detail += f" · {reply.error_class}"
                print(f"     [{detail}]", file=out, flush=True)
        finally:
            for component in reversed(started):
                await component.stop()
    return 0
