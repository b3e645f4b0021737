"""Command line: `python main.py [run|...]`.

Each subcommand names its function as "module:function" and is imported only when it
runs: the operator's `slo` or `purge` should not pay for importing aiogram and the
models (seconds on a small machine). Later features add theirs to `COMMANDS`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import ConfigError, Settings, exit_with_config_error, load_settings
from bot.logging_setup import setup_logging

log = logging.getLogger(__name__)


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Command:
    help: str
    run: str | Callable[[argparse.Namespace, Settings], int]  # a function or "module:function"
    configure: str | Callable[[argparse.ArgumentParser], None] | None = None
    # The command loads the configuration itself (run gets None): `doctor` reports a bad one as a check.
    loads_settings: bool = False


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.telegram.aiogram_import import import_aiogram

    import_aiogram()  # first: the Bot API models are built when first used, not all at start (3-4 s)
    from bot.app import Application

    # No TELEGRAM_BOT_TOKEN is the runbook's "bypass Telegram" mitigation: the app warns and runs without it.
    # The speech and embedding libraries are not imported here: the models load on their worker threads once
    # the bot takes updates (docs/BENCHMARKS.md "Fast start"), and a Redis timeout their imports cause by
    # holding the GIL is recognised as the loop's stall, not an outage (bot/cache/service.py `_try_redis`).
    asyncio.run(Application(settings).run_until_stopped())
    # Everything is answered, written and closed. The interpreter's own teardown would now spend seconds in the
    # native destructors of the model libraries (5-7 s measured on a busy 2-core machine: the restart gap of
    # polling mode), so flush what is still buffered and leave without it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.console import run_console

    return asyncio.run(run_console(settings, user_id=args.user_id))


def _chat_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-id", type=int, default=0, help="whose dialog to continue (default 0, the console's)")


COMMANDS: dict[str, Command] = {
    "run": Command("start the bot and the side server (default)", _run),
    "warmup": Command("warm the shared cache (Redis) with the critical keys, or --group menu",
                      "bot.cache.cli:run", "bot.cache.cli:configure"),
    "slo": Command("show each SLO target of the runbook with its measured value and met / not met",
                   "bot.ops.cli:run_slo", "bot.ops.cli:configure_slo"),
    "purge": Command("apply the data retention policy once (--dry-run: only count)",
                     "bot.ops.cli:run_purge", "bot.ops.cli:configure_purge"),
    "migrate-to-postgres": Command("copy a SQLite database's rows into an empty PostgreSQL database "
                                   "(--from sqlite:///data/bot.db --to postgresql://...), counts checked",
                                   "bot.ops.cli:run_migrate", "bot.ops.cli:configure_migrate"),
    "chat": Command("talk to the agent in this terminal (no Telegram needed)", _chat, _chat_args),
    "webhook-info": Command("check the token, getWebhookInfo and the bot's admin rights in the staff group",
                            "bot.telegram.checks:webhook_info", "bot.telegram.checks:configure_webhook_info"),
    "notify-test": Command("send a test message to the staff group through the outbox",
                           "bot.telegram.checks:notify_test", "bot.telegram.checks:configure_notify_test"),
    "doctor": Command("check configuration, data files, Telegram, model server, Redis, database, disk and "
                      "model files; one line each with what to do; exit 1 on any failure",
                      "bot.doctor:run", "bot.doctor:configure", loads_settings=True),
}


def version_line() -> str:
    """`main.py --version`: this release, the Python running it and which torch build is installed."""
    import platform
    from importlib import metadata

    from bot import __version__

    try:
        torch = f"torch {metadata.version('torch')}"
    except metadata.PackageNotFoundError:
        torch = "torch not installed"
    return f"cafe-concierge-bot {__version__} (Python {platform.python_version()}, {torch})"


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """All subcommands with their help; only `chosen` gets its options (and its imports)."""
    parser = argparse.ArgumentParser(prog="main.py", description="Cafe concierge Telegram bot")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        if command.configure is not None and name == chosen:
            _resolve(command.configure)(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(chosen)
    args = parser.parse_args(argv)
    name = args.command or "run"
    if args.command is None:
        args = parser.parse_args(["run"])
    try:
        if COMMANDS[name].loads_settings:
            return _resolve(COMMANDS[name].run)(args, None)
        settings = load_settings()
        setup_logging(settings.log_level, settings.log_format, settings.secret_values())
        return _resolve(COMMANDS[name].run)(args, settings)
    except ConfigError as exc:
        exit_with_config_error(exc)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
