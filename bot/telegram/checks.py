"""The runbook's "Telegram not responding" checks as commands.

`python main.py webhook-info` runs the three checks in one go: is the token
accepted (getMe), what does Telegram say about the webhook (getWebhookInfo), and
is the bot an administrator in the staff group (getChatMember).
`python main.py notify-test` (and scripts/test_telegram.py) sends a test message to
the staff group through the outbox and says what happened to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramUnauthorizedError

from bot.config import Settings, require
from bot.outbox import Outbox
from bot.telegram.gateway import BotGateway
from bot.telegram.session import create_bot, webhook_url
from bot.text import escape
from storage.db import Database

ADMIN_STATUSES = ("administrator", "creator")
DEFAULT_TEST_TEXT = "✅ Test message from the cafe bot (notify-test)."


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _describe(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__).splitlines()[0]


async def run_checks(settings: Settings, bot: Bot) -> tuple[list[Check], dict[str, object]]:
    checks: list[Check] = []
    raw: dict[str, object] = {}
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        return [Check("token", False, "TELEGRAM_BOT_TOKEN rejected by the Bot API (Unauthorized)")], raw
    except Exception as exc:
        return [Check("token", False, f"Bot API unreachable at {settings.telegram_api_url}: {_describe(exc)}")], raw
    checks.append(Check("token", True, f"accepted: @{me.username} (id {me.id})"))

    try:
        info = await bot.get_webhook_info()
        raw = info.model_dump(mode="json", exclude_none=True)
        checks.append(_webhook_check(settings, info.url, info.pending_update_count, info.last_error_message,
                                     info.last_error_date))
    except Exception as exc:
        checks.append(Check("webhook", False, f"getWebhookInfo failed: {_describe(exc)}"))

    if settings.staff_chat_id is None:
        checks.append(Check("staff group", False, "STAFF_CHAT_ID is not set"))
    else:
        try:
            member = await bot.get_chat_member(settings.staff_chat_id, me.id)
            ok = member.status in ADMIN_STATUSES
            detail = (f"the bot is {member.status} in {settings.staff_chat_id}" if ok else
                      f"the bot is '{member.status}' in {settings.staff_chat_id}: make it an administrator")
            checks.append(Check("staff group", ok, detail))
        except Exception as exc:
            checks.append(Check("staff group", False,
                                f"getChatMember({settings.staff_chat_id}) failed: {_describe(exc)} "
                                "(is the bot in the group, and is STAFF_CHAT_ID right?)"))
    return checks, raw


def _webhook_check(settings: Settings, url: str, pending: int, error: str | None, error_date: object) -> Check:
    last_error = ""
    if error:
        when = error_date.isoformat() if isinstance(error_date, datetime) else str(error_date)
        last_error = f"; last error {when}: {error}"
    status = f"{pending} pending update(s){last_error}"
    if settings.bot_mode == "webhook":
        expected = webhook_url(settings)
        if url != expected:
            return Check("webhook", False, f"set to {url or 'nothing'}, expected {expected} (a running bot sets it "
                                           f"again within WEBHOOK_CHECK_SECONDS); {status}")
        return Check("webhook", not error, f"{url}; {status}")
    if url:
        return Check("webhook", False, f"a webhook is set ({url}) but BOT_MODE={settings.bot_mode}: "
                                       f"the bot deletes it when it starts polling; {status}")
    return Check("webhook", True, f"none set (BOT_MODE={settings.bot_mode}); {status}")


async def webhook_report(settings: Settings, as_json: bool = False) -> int:
    bot = create_bot(settings)
    try:
        checks, raw = await run_checks(settings, bot)
    finally:
        await bot.session.close()
    if as_json:
        print(json.dumps({"ok": all(c.ok for c in checks), "webhook_info": raw,
                          "checks": [c.__dict__ for c in checks]}, indent=2, default=str))
    else:
        if raw:
            print("getWebhookInfo:", json.dumps(raw, default=str))
        for check in checks:
            print(f"{'OK  ' if check.ok else 'FAIL'} {check.name:<12} {check.detail}")
    return 0 if all(c.ok for c in checks) else 1


def configure_webhook_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def webhook_info(args: argparse.Namespace, settings: Settings) -> int:
    require(settings, "telegram_bot_token")
    return asyncio.run(webhook_report(settings, args.json))


async def send_test(settings: Settings, text: str = DEFAULT_TEST_TEXT, wait: float = 15.0) -> int:
    if not settings.telegram_enabled:
        print("skipped: Telegram notifications are disabled (BOT_MODE=off)")
        return 1
    assert settings.staff_chat_id is not None
    bot = create_bot(settings)
    status: str
    error: str | None
    message_id: int | None
    try:
        async with Database(settings.database_target) as db:
            outbox = Outbox(settings, db, BotGateway(lambda: bot))
            row_id = await outbox.send_message(settings.staff_chat_id, escape(text))
            row = await outbox.get(row_id)
            assert row is not None
            result = await outbox.deliver(row)
            if result.status == "pending" and result.error is None:
                # A running bot's worker took it first: wait for its verdict.
                final = await outbox.wait_final(row_id, wait)
                if final is None:  # the row is gone (purged meanwhile): its fate is unknown
                    status, error, message_id = "failed", "the outbox row disappeared", None
                else:
                    status, error, message_id = final.status, final.last_error, final.message_id
            else:
                status, error, message_id = result.status, result.error, result.message_id
    finally:
        await bot.session.close()
    if status == "delivered":
        print(f"delivered to the staff group {settings.staff_chat_id} (message {message_id}, outbox #{row_id})")
        return 0
    if status == "pending":
        print(f"not delivered yet: {error or 'waiting'}; it stays in the outbox (#{row_id}) and the running bot "
              "retries it")
        return 1
    print(f"failed: {error} (outbox #{row_id})")
    return 1


def configure_notify_test(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", default="", help="the message (default: a timestamped test line)")
    parser.add_argument("--wait", type=float, default=15.0,
                        help="seconds to wait when a running bot delivers it instead (default 15)")


def notify_test(args: argparse.Namespace, settings: Settings) -> int:
    require(settings, "telegram_bot_token", "staff_chat_id")
    text = args.text or f"{DEFAULT_TEST_TEXT} {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return asyncio.run(send_test(settings, text, args.wait))
