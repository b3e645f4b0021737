"""`python main.py slo` and `python main.py purge [--dry-run]`.

`slo` asks the running bot (`GET /api/slo` on its side server, with READ_TOKEN or the admin
token when one is set; with Redis that is the fleet's report, every replica's figures merged).
When no bot answers it reads what the live replicas published to Redis, and when there are
none, measures from what the bot left behind: the `agent_events` table and Redis' counters.
Exit code 0 when no measured target is missed, 1 when one is (for cron and alerting).

`migrate-to-postgres` copies a SQLite database's rows into an empty PostgreSQL database
(storage/transfer.py) and prints the row counts of both sides.

`purge` applies the retention policy once to the database file (WAL mode lets it run
next to a live bot) and prints what it removed, or with `--dry-run` what it would remove.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

from bot.config import Settings
from bot.ops.fleet import ReplicaFigures, fleet_report
from bot.ops.measure import stored_measurements
from bot.ops.retention import BATCH_SIZE, purge
from bot.ops.slo import WINDOW_NOTE, evaluate, exit_code, render_text
from bot.replicas import SharedRedis, SloBoard
from storage.db import Database, sqlite_path
from storage.transfer import BATCH_ROWS, TransferRefused, TransferReport, copy_to_postgres

LIVE_TIMEOUT_SECONDS = 3.0


# --- slo ------------------------------------------------------------------------------------
def configure_slo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the running bot's side server (default: http://127.0.0.1:HTTP_PORT)")
    parser.add_argument("--from-events", action="store_true",
                        help="measure from agent_events and Redis' counters even if a bot is running "
                             "or the replicas publish their figures to Redis")
    parser.add_argument("--window-minutes", type=float, default=5.0,
                        help="with agent_events: minutes of activity up to the newest event (default 5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run_slo(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(_slo_report(args, settings))
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else render_text(report))
    return exit_code(report)


def default_url(settings: Settings) -> str | None:
    if settings.http_port == 0:
        return None
    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host
    return f"http://{host}:{settings.http_port}"


async def _slo_report(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    url = args.url or default_url(settings)
    if url and not args.from_events:
        live = await fetch_live(url.rstrip("/"), read_headers(settings))
        if live is not None:
            live["source"] = f"live from {url}"
            return live
    if not args.from_events:
        fleet = await published_fleet(settings)
        if fleet:
            return fleet_report(None, fleet, "Redis: what the live replicas published", WINDOW_NOTE, now=time.time())
    if settings.sqlite_file is not None and not settings.sqlite_file.exists():
        return evaluate({}, f"no running bot and no database at {settings.sqlite_file}")
    async with Database(settings.database_target) as db:
        measurements, window = await stored_measurements(db, args.window_minutes * 60, settings.redis_url)
    return evaluate(measurements, "agent_events (no running bot answered)" if url and not args.from_events
                    else "agent_events", window=window)


async def published_fleet(settings: Settings) -> list[ReplicaFigures] | None:
    """The figures the live replicas published to Redis (None without Redis or when it does not answer)."""
    shared = SharedRedis.from_settings(settings)
    if shared is None:
        return None
    try:
        return await SloBoard(shared, "").read()
    finally:
        await shared.stop()


def read_headers(settings: Settings) -> dict[str, str]:
    """The Authorization header for the side server's read endpoints: READ_TOKEN, else the admin token."""
    token = settings.read_token or settings.admin_api_token
    return {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}


async def fetch_live(url: str, headers: dict[str, str]) -> dict[str, Any] | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=LIVE_TIMEOUT_SECONDS)) as http, \
                http.get(f"{url}/api/slo", headers=headers) as response:
            if response.status == 401:
                print(f"slo: the bot at {url} wants a read token: set READ_TOKEN (or ADMIN_API_TOKEN) "
                      "as the bot has it; measuring from agent_events instead", file=sys.stderr)
                return None
            if response.status != 200:
                return None
            return await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


# --- purge ----------------------------------------------------------------------------------
def configure_purge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="count what would be removed, remove nothing")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"rows per delete (default {BATCH_SIZE})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run_purge(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch_size < 1:
        print("purge: --batch-size must be at least 1")
        return 2
    if settings.sqlite_file is not None and not settings.sqlite_file.exists():
        print(f"purge: no database at {settings.sqlite_file} (DATABASE_PATH); nothing to do")
        return 1
    report = asyncio.run(_purge(settings, args.dry_run, args.batch_size))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    print(("Dry run: would remove" if report.dry_run else "Removed") + ":")
    for name, count in report.counts.items():
        print(f"  {name:<22} {count:>8}  (older than {report.as_dict()['cutoffs'][name]})")
    for name, why in report.kept.items():
        print(f"  {name:<22} {'kept':>8}  ({why})")
    return 0


async def _purge(settings: Settings, dry_run: bool, batch_size: int) -> Any:
    async with Database(settings.database_target) as db:
        return await purge(db, settings, dry_run=dry_run, batch_size=batch_size)


# --- migrate-to-postgres ------------------------------------------------------------------------
def configure_migrate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", metavar="URL",
                        help="the SQLite database: sqlite:///data/bot.db or a file path "
                             "(default: DATABASE_URL when it is SQLite, else DATABASE_PATH)")
    parser.add_argument("--to", dest="target", metavar="URL", required=True,
                        help="the empty PostgreSQL database: postgresql://user:password@host:5432/dbname")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every table's counts agree, 1 when the copy was refused or a count differs."""
    source = args.source or (settings.database_target if settings.sqlite_file is not None
                             else f"sqlite:///{settings.database_path}")
    path = sqlite_path(source)
    if path is None:
        print("migrate-to-postgres: --from must be a SQLite database (sqlite:///path or a file path)")
        return 2
    if sqlite_path(args.target) is not None:
        print("migrate-to-postgres: --to must be a postgresql:// URL")
        return 2
    if not path.is_file():
        print(f"migrate-to-postgres: no SQLite database at {path}")
        return 1
    try:
        report = asyncio.run(_migrate(source, args.target, quiet=args.json))
    except TransferRefused as exc:
        print(f"migrate-to-postgres: refused: {exc}")
        return 1
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.ok else 1
    print(f"Copied {report.source} -> {report.target} in {report.seconds:.1f} s")
    print(f"  {'table':<22} {'source':>8} {'copied':>8} {'target':>8}")
    for t in report.tables:
        print(f"  {t.table:<22} {t.source:>8} {t.copied:>8} {t.target:>8}  {'ok' if t.ok else 'MISMATCH'}")
    for name, value in report.sequences.items():
        print(f"  sequence {name} continues at {value}")
    print("All counts agree: set DATABASE_URL to the new database and start the bot." if report.ok
          else "Counts differ (MISMATCH above): do not switch DATABASE_URL yet.")
    return 0 if report.ok else 1


async def _migrate(source_url: str, target_url: str, *, quiet: bool) -> TransferReport:
    def progress(table: str, rows: int) -> None:
        if not quiet and rows % (BATCH_ROWS * 10) == 0:
            print(f"  {table}: {rows} rows", file=sys.stderr)

    async with Database(source_url) as source:  # brings an older file up to the code's migrations first
        target = Database(target_url)
        await target.open()
        try:
            return await copy_to_postgres(source, target, progress=progress)
        finally:
            await target.close()
