"""`python main.py warmup [--group critical|menu]`: warm the shared cache from a shell.

Starts the services (not Telegram, the side server or Whisper), runs the warmers of the
group into Redis, prints the report as JSON and exits 0; exit 1 if a warmer
failed or Redis was unavailable (the keys then only reached this short-lived
process's memory, which helps nobody).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.cache.warmup import CRITICAL, GROUPS
from bot.config import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--group", choices=sorted(GROUPS), default=CRITICAL, help="which warmers to run")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_warmup(settings, args.group))


async def _warmup(settings: Settings, group: str) -> int:
    from bot.services import Seams, build_services
    from storage.db import Database

    db = Database(settings.database_target)
    await db.open()
    started = []
    try:
        await db.migrate()
        services = build_services(settings, db, Seams())
        services.cache.warm_on_start = False
        for component in services.components:
            if component is services.transcriber:
                continue  # speech takes no part in warming the cache; loading Whisper costs seconds
            await component.start()
            started.append(component)
        report = await services.cache.warmup(group)
        print(json.dumps(report, indent=2, ensure_ascii=False))
        if not services.cache.available:
            print("warmup: Redis is unavailable, so the keys only reached this process's memory", file=sys.stderr)
            return 1
        return 1 if report["errors"] else 0
    finally:
        for component in reversed(started):
            await component.stop()
        await db.close()
