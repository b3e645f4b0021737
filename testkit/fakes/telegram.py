"""A fake Telegram Bot API server that speaks the real HTTP protocol.

The real bot (aiogram's own HTTP session) talks to it through `TELEGRAM_API_URL`:
methods at `/bot{token}/{method}`, files at `/file/bot{token}/{path}`, form or
JSON bodies, `{"ok": true, "result": ...}` answers and Telegram's error shapes
(429 with `parameters.retry_after`, 400 "can't parse entities", 5xx).

Tests inject updates (text, commands, voice notes with file bytes, callback
queries), read what the bot sent, wait for it with a deadline, and inject
failures per method and chat.

Outages, as a deploy or a network meets them: the server can stop listening (connection
refused, open connections cut: `go_offline`/`go_online`, or `FakeTelegram(listening=False)`
to be down from the start), answer a proxy's "502 Bad Gateway" HTML page to some methods for
a while (`outage`/`end_outage`, in-flight long polls included), or lose the webhook behind
the bot's back (`delete_webhook_behind_back`). `after(seconds, action)` schedules the end
of an outage; `recovered_at` records when it ended (time.monotonic()). With
`deliver_webhook=True` it POSTs updates to the webhook URL the bot set, like Telegram does:
oldest first, on up to `webhook_connections` connections at once (Telegram's `max_connections`,
40 by default; 1 here unless asked, so a test sees one update at a time), each kept and
delivered again until the webhook answers 200 within `webhook_timeout` seconds (a refused
connection, a 5xx, a cut connection or a timeout: `webhook_failures`), and reports delivery
failures in getWebhookInfo.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import web

from testkit.fakes.waiting import wait_until

BOT_USER = {"id": 999000111, "is_bot": True, "first_name": "CafeBot", "username": "cafe_test_bot"}

JSON_FIELDS = {
    "reply_markup", "entities", "caption_entities", "commands", "scope", "allowed_updates",
    "link_preview_options", "reply_parameters", "media", "prices", "suggested_tip_amounts",
}
INT_FIELDS = {
    "chat_id", "message_id", "draft_id", "offset", "limit", "timeout", "user_id", "cache_time",
    "max_connections", "from_chat_id", "message_thread_id", "max_tip_amount", "photo_size", "photo_width",
    "photo_height",
}
BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content", "can_stop",
               "keep_on_stop", "ok", "need_name", "need_phone_number", "need_email", "need_shipping_address",
               "send_phone_number_to_provider", "send_email_to_provider", "is_flexible"}
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}


class EntityError(ValueError):
    pass


class _TelegramHTML(HTMLParser):
    """Validates Telegram's HTML subset the way the Bot API does and extracts plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise EntityError(f"Unsupported start tag \"{tag}\"")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityError(f"Unexpected end tag \"{tag}\"")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def parse_html(text: str) -> str:
    for match in _find_ampersands(text):
        if not match:
            raise EntityError("Unsupported HTML entity")
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise EntityError(f"Can't find end tag corresponding to start tag \"{parser.stack[-1]}\"")
    return html.unescape("".join(parser.parts))


def _find_ampersands(text: str) -> list[bool]:
    """Every '&' must start an entity (&amp; &lt; &gt; &quot; or numeric), as Telegram requires."""
    import re

    results = []
    for m in re.finditer("&", text):
        rest = text[m.start():m.start() + 12]
        results.append(bool(re.match(r"&(amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);", rest)))
    return results


@dataclass
class SentMessage:
    """A message as the bot left it (edits update it in place; `history` keeps every text)."""

    chat_id: int
    message_id: int
    text: str  # what the user sees (entities resolved)
    raw: str  # what the bot sent (HTML)
    reply_markup: dict[str, Any] | None
    date: float
    history: list[str] = field(default_factory=list)
    deleted: bool = False

    def buttons(self) -> list[dict[str, Any]]:
        if not self.reply_markup:
            return []
        return [b for row in self.reply_markup.get("inline_keyboard", []) for b in row]

    def button(self, text_contains: str) -> dict[str, Any]:
        for b in self.buttons():
            if text_contains.lower() in b.get("text", "").lower():
                return b
        raise AssertionError(f"no button containing {text_contains!r} in {[b.get('text') for b in self.buttons()]}")


@dataclass
class Draft:
    """One sendMessageDraft the bot made."""

    chat_id: int
    draft_id: int
    text: str  # as the customer sees it (HTML parsed)
    raw: str
    at: float  # time.time() when it arrived (compare with SentMessage.date)
    can_stop: bool = False


@dataclass
class SentInvoice:
    """A sendInvoice the bot made (the Bot API's fields as sent; the message Telegram shows carries `invoice`)."""

    chat_id: int
    message_id: int
    title: str
    description: str
    payload: str
    provider_token: str
    currency: str
    prices: list[dict[str, Any]]  # LabeledPrice: {"label", "amount"} in the currency's minor units
    date: float

    @property
    def total_amount(self) -> int:
        return sum(int(p["amount"]) for p in self.prices)

    def labels(self) -> list[str]:
        return [str(p["label"]) for p in self.prices]


@dataclass
class PreCheckout:
    """A pre_checkout_query the test delivered, and the bot's answerPreCheckoutQuery (None until it answers)."""

    id: str
    user_id: int
    invoice: SentInvoice
    currency: str
    total_amount: int
    answer: dict[str, Any] | None = None  # {"ok": bool, "error_message": str | None}
    asked_at: float = 0.0  # time.monotonic()
    answered_at: float | None = None

    @property
    def ok(self) -> bool:
        return bool(self.answer and self.answer.get("ok"))


@dataclass
class FailureRule:
    method: str
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None


@dataclass
class FakeFile:
    file_id: str
    file_unique_id: str
    path: str
    content: bytes


BAD_GATEWAY_PAGE = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
                    "Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


class FakeTelegram:
    def __init__(self, token: str | None = None, *, listening: bool = True, deliver_webhook: bool = False,
                 webhook_connections: int = 1, webhook_timeout: float = 10.0) -> None:
        self.token = token  # when set, other tokens get 401
        self.port = 0
        self._listen_at_start = listening
        self.deliver_webhook = deliver_webhook
        self.webhook_connections = webhook_connections
        self.webhook_timeout = webhook_timeout
        self.webhook_failures: list[tuple[float, int, str]] = []  # (time.monotonic(), update_id, error) to redeliver
        self._in_delivery: set[int] = set()  # update ids being POSTed right now
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._outage: tuple[int, frozenset[str]] | None = None  # (status, methods in lower case)
        self.recovered_at: float | None = None  # time.monotonic() when the last outage ended
        self.webhook_deliveries: list[tuple[float, int]] = []  # (time.monotonic(), update_id) delivered
        self.webhook_error: tuple[float, str] | None = None  # (epoch, message) of the last failed delivery
        self._delivery: list[asyncio.Task[None]] = []
        self._timers: list[asyncio.TimerHandle] = []
        self.unauthorized_calls: list[tuple[str, float]] = []  # (method, time.monotonic()) refused with 401
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._confirmed_offset = 0
        self._changed = asyncio.Condition()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.request_times: list[float] = []  # time.monotonic() of each entry in `requests`
        self.getupdates_times: list[float] = []  # time.monotonic() of each getUpdates call (not in `requests`)
        self.messages: list[SentMessage] = []
        self.drafts: list[Draft] = []  # sendMessageDraft calls accepted, in order
        self.chat_actions: list[tuple[int, str]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.invoices: list[SentInvoice] = []  # sendInvoice calls accepted, in order
        self.pre_checkouts: dict[str, PreCheckout] = {}  # pre_checkout_query id -> the query and its answer
        self._charge_ids = itertools.count(1)
        self.commands: list[dict[str, Any]] = []
        self.files: dict[str, FakeFile] = {}
        self.downloads: list[str] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self.chat_members: dict[tuple[int, int], str] = {}
        self.user_languages: dict[int, str] = {}  # user id -> language_code sent in `from` (set_language)
        self._failures: list[FailureRule] = []
        self.hang_getupdates = False
        self._closing = False
        self.delays: dict[str, float] = {}  # method (lower case) -> seconds of simulated latency

    # --- server ----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        if not port and not self._listen_at_start:
            with socket.socket() as s:  # reserve a port to come up on later
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        if self._listen_at_start:
            await self.go_online()
            self.recovered_at = None  # coming up at start is not a recovery
        if self.deliver_webhook:
            self._delivery = [asyncio.create_task(self._deliver_webhook_updates(), name=f"fake-telegram-webhook-{n}")
                              for n in range(self.webhook_connections)]

    async def stop(self) -> None:
        self._closing = True
        for timer in self._timers:
            timer.cancel()
        for task in self._delivery:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._changed:
            self._changed.notify_all()  # release long polls at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- outages ------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        return self._site is not None

    async def go_online(self) -> None:
        """Listen (again) on the same port."""
        assert self._runner is not None
        if self._site is None:
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            await self._site.start()
            self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._recovered()

    async def go_offline(self) -> None:
        """Stop listening and cut every open connection: the Bot API is unreachable (connection refused)."""
        assert self._runner is not None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        server = self._runner.server
        for connection in server.connections if server is not None else []:
            connection.force_close()

    def outage(self, status: int = 502, methods: tuple[str, ...] = ("getMe", "getUpdates")) -> None:
        """Until `end_outage`, these methods answer `status` with a proxy's HTML page (long polls in flight too)."""
        self._outage = (status, frozenset(m.lower() for m in methods))
        self._notify()

    def end_outage(self) -> None:
        self._outage = None
        self._recovered()

    def after(self, seconds: float, action: Callable[[], Any]) -> None:
        """Run `action` (plain or async) in `seconds`: how a test says how long an outage lasts."""
        def fire() -> None:
            result = action()
            if asyncio.iscoroutine(result):
                asyncio.get_running_loop().create_task(result)

        self._timers.append(asyncio.get_running_loop().call_later(seconds, fire))

    def delete_webhook_behind_back(self) -> None:
        """Someone (another deployment, a script, Telegram itself) removed the webhook; updates now wait."""
        self.webhook = {"url": ""}
        self._notify()

    def _recovered(self) -> None:
        self.recovered_at = time.monotonic()
        self._notify()

    def _outage_status(self, method: str) -> int | None:
        if self._outage is not None and method.lower() in self._outage[1]:
            return self._outage[0]
        return None

    async def _deliver_webhook_updates(self) -> None:
        """One connection, like Telegram: POST the oldest update no other connection holds; keep it until a 200."""
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                url = self.webhook.get("url")
                pending = [u for u in self.pending_updates() if u["update_id"] not in self._in_delivery]
                if not url or not pending:
                    async with self._changed:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), 0.5)
                    continue
                update = pending[0]
                update_id = update["update_id"]
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
                self._in_delivery.add(update_id)
                try:
                    async with session.post(url, json=update, headers=headers) as response:
                        ok = response.status == 200
                        error = f"Wrong response from the webhook: {response.status} {response.reason}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok, error = False, f"Connection failed: {type(exc).__name__}"
                finally:
                    self._in_delivery.discard(update_id)
                if ok:  # answered 200: delivered, even if the webhook changed meanwhile
                    self._confirm(update_id)
                    self.webhook_deliveries.append((time.monotonic(), update_id))
                    self._notify()
                else:
                    self.webhook_error = (time.time(), error)
                    self.webhook_failures.append((time.monotonic(), update_id, error))
                    self._notify()
                    await asyncio.sleep(0.5)

    def _confirm(self, update_id: int) -> None:
        """Answered 200: forget the update; the confirmed offset is the oldest update still undelivered."""
        self._updates = [u for u in self._updates if u["update_id"] != update_id]
        remaining = [u["update_id"] for u in self._updates if u["update_id"] >= self._confirmed_offset]
        self._confirmed_offset = max(self._confirmed_offset, min(remaining) if remaining else update_id + 1)

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- injecting updates ---------------------------------------------------------
    def _user(self, user_id: int, first_name: str | None = None, username: str | None = None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
        if username:
            user["username"] = username
        if user_id in self.user_languages:
            user["language_code"] = self.user_languages[user_id]
        return user

    def set_language(self, user_id: int, language_code: str | None) -> None:
        """The language of the user's Telegram app: sent as `from.language_code` in every later update of theirs."""
        if language_code is None:
            self.user_languages.pop(user_id, None)
        else:
            self.user_languages[user_id] = language_code

    def _chat(self, chat_id: int, user_id: int) -> dict[str, Any]:
        if chat_id == user_id:
            return {"id": chat_id, "type": "private", "first_name": f"User{user_id}"}
        return {"id": chat_id, "type": "supergroup", "title": "Cafe staff"}

    def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        self._notify()
        return update

    def _message(self, user_id: int, chat_id: int | None, **content: Any) -> dict[str, Any]:
        chat_id = user_id if chat_id is None else chat_id
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id, user_id),
            "from": self._user(user_id, content.pop("first_name", None), content.pop("username", None)),
            **content,
        }

    def send_text(self, user_id: int, text: str, chat_id: int | None = None, **extra: Any) -> dict[str, Any]:
        """Inject a text message (a leading '/' makes it a command, with its entity)."""
        content: dict[str, Any] = {"text": text, **extra}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push_update({"message": self._message(user_id, chat_id, **content)})

    def add_file(self, content: bytes, path: str | None = None) -> FakeFile:
        n = next(self._file_ids)
        f = FakeFile(file_id=f"FILE{n:06d}", file_unique_id=f"U{n:06d}", path=path or f"voice/file_{n}.oga",
                     content=content)
        self.files[f.file_id] = f
        return f

    def send_voice(
        self, user_id: int, content: bytes, duration: int, *, kind: str = "voice",
        mime_type: str = "audio/ogg", file_size: int | None = None, chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a voice note, audio file, video note or document whose bytes the bot can download."""
        f = self.add_file(content)
        media: dict[str, Any] = {
            "file_id": f.file_id, "file_unique_id": f.file_unique_id, "duration": duration,
            "file_size": len(content) if file_size is None else file_size,
        }
        if kind in ("voice", "audio", "document"):
            media["mime_type"] = mime_type
        if kind == "document":
            del media["duration"]  # documents declare no duration
            media["file_name"] = "note.ogg"
        if kind == "video_note":
            media["length"] = 240
        return self.push_update({"message": self._message(user_id, chat_id, **{kind: media})})

    def send_media(self, user_id: int, kind: str, chat_id: int | None = None) -> dict[str, Any]:
        """Inject a message the bot has no feature for: a photo, a sticker, a location or a PDF document."""
        n = next(self._file_ids)
        file = {"file_id": f"MEDIA{n:06d}", "file_unique_id": f"M{n:06d}", "file_size": 2048}
        content: dict[str, Any] = {
            "photo": [{**file, "width": 320, "height": 240}],
            "sticker": {**file, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                        "is_video": False},
            "location": {"latitude": 52.4934, "longitude": 13.3929},
            "document": {**file, "file_name": "menu.pdf", "mime_type": "application/pdf"},
        }
        key = "document" if kind == "pdf" else kind
        return self.push_update({"message": self._message(user_id, chat_id, **{key: content[key]})})

    def send_callback(
        self, user_id: int, data: str, message: SentMessage | None = None, *,
        chat_id: int | None = None, message_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a button press on a message the bot sent (or on any chat/message id, to forge one)."""
        chat_id = message.chat_id if message is not None else (chat_id if chat_id is not None else user_id)
        message_id = message.message_id if message is not None else (message_id or 1)
        text = message.text if message is not None else ""
        msg = {
            "message_id": message_id, "date": int(time.time()), "chat": self._chat(chat_id, user_id),
            "from": BOT_USER, "text": text,
        }
        if message is not None and message.reply_markup:
            msg["reply_markup"] = message.reply_markup
        query = {
            "id": str(next(self._update_ids) * 7919), "from": self._user(user_id),
            "chat_instance": str(chat_id), "data": data, "message": msg,
        }
        return self.push_update({"callback_query": query})

    # --- payments ------------------------------------------------------------------------
    def invoices_to(self, chat_id: int) -> list[SentInvoice]:
        return [i for i in self.invoices if i.chat_id == chat_id]

    def send_pre_checkout(self, user_id: int, invoice: SentInvoice, *, total_amount: int | None = None,
                          currency: str | None = None) -> PreCheckout:
        """The customer pressed Pay under `invoice`: Telegram asks the bot (update `pre_checkout_query`).

        `total_amount` / `currency` default to the invoice's (what Telegram sends; a tip would add to it).
        """
        query = PreCheckout(id=str(next(self._update_ids) * 104729), user_id=user_id, invoice=invoice,
                            currency=currency or invoice.currency,
                            total_amount=invoice.total_amount if total_amount is None else total_amount,
                            asked_at=time.monotonic())
        self.pre_checkouts[query.id] = query
        self.push_update({"pre_checkout_query": {
            "id": query.id, "from": self._user(user_id), "currency": query.currency,
            "total_amount": query.total_amount, "invoice_payload": invoice.payload,
        }})
        return query

    async def wait_pre_checkout_answer(self, query: PreCheckout, timeout: float = 10.0) -> PreCheckout:
        """Until the bot answered the query (Telegram gives it 10 seconds)."""
        await self.wait_for(lambda: query.answer is not None, timeout)
        return query

    def send_successful_payment(self, user_id: int, query: PreCheckout, *, telegram_charge_id: str | None = None,
                                provider_charge_id: str | None = None) -> dict[str, Any]:
        """Telegram charged the customer: a service message with `successful_payment` in the invoice's chat.

        Like Telegram, only after the bot answered the pre-checkout query with ok=True.
        """
        if not query.ok:
            raise AssertionError(f"Telegram charges only after answerPreCheckoutQuery ok=True (got {query.answer})")
        n = next(self._charge_ids)
        payment = {
            "currency": query.currency, "total_amount": query.total_amount,
            "invoice_payload": query.invoice.payload,
            "telegram_payment_charge_id": telegram_charge_id or f"TG-CHARGE-{n:06d}",
            "provider_payment_charge_id": provider_charge_id or f"PROVIDER-CHARGE-{n:06d}",
        }
        return self.push_update({"message": self._message(user_id, query.invoice.chat_id, successful_payment=payment)})

    def set_chat_member(self, chat_id: int, user_id: int, status: str) -> None:
        self.chat_members[(chat_id, user_id)] = status

    # --- failures --------------------------------------------------------------------
    def fail(
        self, method: str, *, status: int = 500, description: str | None = None, retry_after: int | None = None,
        times: int = 1, chat_id: int | None = None,
    ) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) fail like Telegram fails."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after or 1}",
                400: "Bad Request: chat not found",
                401: "Unauthorized",
                403: "Forbidden: bot was blocked by the user",
            }.get(status, "Internal Server Error")
        if status == 429 and retry_after is None:
            retry_after = 1
        self._failures.append(FailureRule(method, status, description, retry_after, times, chat_id))

    def clear_failures(self) -> None:
        """Telegram recovers: every injected failure not yet used is dropped."""
        self._failures.clear()

    def _take_failure(self, method: str, params: dict[str, Any]) -> FailureRule | None:
        for rule in self._failures:
            if rule.remaining > 0 and rule.method.lower() == method.lower() and (
                rule.chat_id is None or params.get("chat_id") == rule.chat_id
            ):
                rule.remaining -= 1
                return rule
        return None

    # --- reading what the bot did ---------------------------------------------------------
    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.messages if m.chat_id == chat_id and not m.deleted]

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.text for m in self.sent_to(chat_id)]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [p for m, p in self.requests if m.lower() == method.lower()]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (re-checked on every bot request); returns its value."""
        return await wait_until(self._changed, predicate, timeout)

    async def wait_for_messages(self, chat_id: int, count: int = 1, *, after: int = 0,
                                timeout: float = 10.0) -> list[SentMessage]:
        """Wait until at least `count` messages were sent to chat_id beyond the first `after`."""
        def ready() -> list[SentMessage] | None:
            msgs = self.sent_to(chat_id)[after:]
            return msgs if len(msgs) >= count else None

        return await self.wait_for(ready, timeout)

    async def wait_for_text(self, chat_id: int, contains: str, timeout: float = 10.0) -> SentMessage:
        needle = contains.lower()
        return await self.wait_for(
            lambda: next((m for m in self.sent_to(chat_id) if needle in m.text.lower()), None), timeout
        )

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        try:
            asyncio.get_running_loop().create_task(notify())
        except RuntimeError:
            pass

    # --- HTTP handlers --------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw = await request.json() if request.can_read_body else {}
            return dict(raw or {})
        params: dict[str, Any] = {}
        if request.method == "POST":
            form = await request.post()
            for key, value in form.items():
                if not isinstance(value, str):
                    params[key] = value  # uploaded file
                elif key in JSON_FIELDS:
                    params[key] = json.loads(value)
                elif key in INT_FIELDS:
                    params[key] = int(value) if value.lstrip("-").isdigit() else value
                elif key in BOOL_FIELDS:
                    params[key] = value.lower() in ("true", "1")
                else:
                    params[key] = value
        params.update({k: v for k, v in request.query.items() if k not in params})
        return params

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if self._outage_status("getFile") is not None:
            return web.Response(status=self._outage_status("getFile") or 502, text=BAD_GATEWAY_PAGE,
                                content_type="text/html")
        if self.token is not None and request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for f in self.files.values():
            if f.path == path:
                self.downloads.append(f.file_id)
                self._notify()
                return web.Response(body=f.content, content_type="application/octet-stream")
        return web.Response(status=404)

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"]
        if self.token is not None and token != self.token:
            self.unauthorized_calls.append((method, time.monotonic()))
            self._notify()
            return self._error(401, "Unauthorized")
        params = await self._params(request)
        if method.lower() != "getupdates":
            self.requests.append((method, params))
            self.request_times.append(time.monotonic())
            self._notify()
        else:
            self.getupdates_times.append(time.monotonic())
        outage = self._outage_status(method)
        if outage is not None:
            return web.Response(status=outage, text=BAD_GATEWAY_PAGE, content_type="text/html")
        failure = self._take_failure(method, params)
        if failure is not None:
            self._notify()
            return self._error(failure.status, failure.description, failure.retry_after)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if method.lower() in self.delays:
            await asyncio.sleep(self.delays[method.lower()])
        if handler is None:
            return self._error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except EntityError as exc:
            return self._error(400, f"Bad Request: can't parse entities: {exc}")
        except _Conflict as exc:
            return self._error(409, f"Conflict: {exc}")
        except _OutageStarted as exc:
            return web.Response(status=exc.status, text=BAD_GATEWAY_PAGE, content_type="text/html")
        except _BadRequest as exc:
            return self._error(400, f"Bad Request: {exc}")
        finally:
            self._notify()
        return self._ok(result)

    # --- Bot API methods ----------------------------------------------------------------------
    async def _m_getme(self, p: dict[str, Any]) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _m_getupdates(self, p: dict[str, Any]) -> Any:
        if self.webhook["url"]:
            raise _Conflict("can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
                            "webhook first")
        offset = int(p.get("offset") or 0)
        limit = int(p.get("limit") or 100)
        timeout = float(p.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._confirmed_offset = max(self._confirmed_offset, offset)
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                if self._outage_status("getUpdates") is not None:
                    raise _OutageStarted(self._outage_status("getUpdates") or 502)
                pending = [u for u in self._updates if u["update_id"] >= offset]
                if (pending and not self.hang_getupdates) or time.monotonic() >= deadline or self._closing:
                    return pending[:limit] if not self.hang_getupdates else []
                try:
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
                except TimeoutError:
                    pass

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates the bot has not confirmed yet (getUpdates offset semantics; a webhook's 200s)."""
        return [u for u in self._updates if u["update_id"] >= self._confirmed_offset]

    def _store(self, chat_id: int, text: str, reply_markup: Any, parse_mode: str | None) -> SentMessage:
        plain = parse_html(text) if (parse_mode or "").upper() == "HTML" else text
        if not plain.strip():
            raise _BadRequest("message text is empty")
        if len(plain) > 4096:
            raise _BadRequest("message is too long")
        msg = SentMessage(chat_id=chat_id, message_id=next(self._message_ids), text=plain, raw=text,
                          reply_markup=reply_markup, date=time.time(), history=[plain])
        self.messages.append(msg)
        return msg

    def _as_api_message(self, m: SentMessage) -> dict[str, Any]:
        chat = {"id": m.chat_id, "type": "private" if m.chat_id > 0 else "supergroup"}
        if m.chat_id < 0:
            chat["title"] = "Cafe staff"
        out: dict[str, Any] = {"message_id": m.message_id, "date": int(m.date), "chat": chat, "from": BOT_USER,
                               "text": m.text}
        if m.reply_markup:
            out["reply_markup"] = m.reply_markup
        return out

    def _find(self, p: dict[str, Any]) -> SentMessage:
        for m in self.messages:
            if m.chat_id == p.get("chat_id") and m.message_id == p.get("message_id") and not m.deleted:
                return m
        raise _BadRequest("message to edit not found")

    async def _m_sendmessage(self, p: dict[str, Any]) -> Any:
        chat_id = p.get("chat_id")
        if not isinstance(chat_id, int):
            raise _BadRequest("chat not found")
        msg = self._store(chat_id, str(p.get("text", "")), p.get("reply_markup"), p.get("parse_mode"))
        return self._as_api_message(msg)

    async def _m_editmessagetext(self, p: dict[str, Any]) -> Any:
        msg = self._find(p)
        text = str(p.get("text", ""))
        plain = parse_html(text) if (p.get("parse_mode") or "").upper() == "HTML" else text
        markup = p.get("reply_markup")
        if plain == msg.text and markup == msg.reply_markup:
            raise _BadRequest("message is not modified: specified new message content and reply markup are "
                              "exactly the same as a current content and reply markup of the message")
        if len(plain) > 4096:
            raise _BadRequest("message is too long")
        msg.text, msg.raw, msg.reply_markup = plain, text, markup
        msg.history.append(plain)
        return self._as_api_message(msg)

    async def _m_editmessagereplymarkup(self, p: dict[str, Any]) -> Any:
        msg = self._find(p)
        markup = p.get("reply_markup")
        if markup == msg.reply_markup:
            raise _BadRequest("message is not modified")
        msg.reply_markup = markup
        return self._as_api_message(msg)

    async def _m_deletemessage(self, p: dict[str, Any]) -> Any:
        self._find(p).deleted = True
        return True

    async def _m_sendmessagedraft(self, p: dict[str, Any]) -> Any:
        """Bot API 9.x: a draft is shown in a private chat until the final message; kept in `drafts`."""
        chat_id, draft_id = p.get("chat_id"), p.get("draft_id")
        if not isinstance(chat_id, int):
            raise _BadRequest("chat not found")
        if chat_id < 0:
            raise _BadRequest("drafts can be sent only to private chats")
        if not isinstance(draft_id, int) or draft_id == 0:
            raise _BadRequest("draft_id must be non-zero")
        text = str(p.get("text") or "")
        plain = parse_html(text) if (p.get("parse_mode") or "").upper() == "HTML" else text
        if len(plain) > 4096:
            raise _BadRequest("text is too long")
        self.drafts.append(Draft(chat_id=chat_id, draft_id=draft_id, text=plain, raw=text, at=time.time(),
                                 can_stop=bool(p.get("can_stop"))))
        return True

    def drafts_to(self, chat_id: int) -> list[Draft]:
        return [d for d in self.drafts if d.chat_id == chat_id]

    def send_stop(self, user_id: int, draft_id: int, chat_id: int | None = None) -> dict[str, Any]:
        """The customer presses the stop button under a draft (update `stopped_message_generation`)."""
        chat_id = chat_id if chat_id is not None else user_id
        return self.push_update({"stopped_message_generation": {"chat": self._chat(chat_id, user_id),
                                                                "draft_id": draft_id}})

    async def _m_sendchataction(self, p: dict[str, Any]) -> Any:
        self.chat_actions.append((p.get("chat_id"), p.get("action")))  # type: ignore[arg-type]
        return True

    async def _m_sendinvoice(self, p: dict[str, Any]) -> Any:
        """Checked as the Bot API does: title 1-32 and description 1-255 characters, payload 1-128 bytes, a
        three-letter currency, at least one LabeledPrice of integer minor units, a provider token (empty only
        for Telegram Stars, XTR)."""
        chat_id = p.get("chat_id")
        if not isinstance(chat_id, int):
            raise _BadRequest("chat not found")
        title, description = str(p.get("title") or ""), str(p.get("description") or "")
        payload, currency = str(p.get("payload") or ""), str(p.get("currency") or "")
        provider_token, prices = str(p.get("provider_token") or ""), p.get("prices")
        if not 1 <= len(title) <= 32:
            raise _BadRequest("INVOICE_TITLE_INVALID" if title else "title is empty")
        if not 1 <= len(description) <= 255:
            raise _BadRequest("INVOICE_DESCRIPTION_INVALID" if description else "description is empty")
        if not 1 <= len(payload.encode()) <= 128:
            raise _BadRequest("INVOICE_PAYLOAD_INVALID")
        if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
            raise _BadRequest("CURRENCY_INVALID")
        if not isinstance(prices, list) or not prices or not all(
                isinstance(x, dict) and isinstance(x.get("label"), str) and isinstance(x.get("amount"), int)
                for x in prices):
            raise _BadRequest("can't parse prices JSON object")
        if sum(x["amount"] for x in prices) <= 0:
            raise _BadRequest("CURRENCY_TOTAL_AMOUNT_INVALID")
        if (currency == "XTR") == bool(provider_token):
            raise _BadRequest("PAYMENT_PROVIDER_INVALID")
        invoice = SentInvoice(chat_id=chat_id, message_id=next(self._message_ids), title=title,
                              description=description, payload=payload, provider_token=provider_token,
                              currency=currency, prices=[dict(x) for x in prices], date=time.time())
        self.invoices.append(invoice)
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        return {"message_id": invoice.message_id, "date": int(invoice.date), "chat": chat, "from": BOT_USER,
                "invoice": {"title": title, "description": description,
                            "start_parameter": str(p.get("start_parameter") or ""), "currency": currency,
                            "total_amount": invoice.total_amount}}

    async def _m_answerprecheckoutquery(self, p: dict[str, Any]) -> Any:
        query = self.pre_checkouts.get(str(p.get("pre_checkout_query_id")))
        if query is None or query.answer is not None:
            raise _BadRequest("query is too old and response timeout expired or query ID is invalid")
        ok = p.get("ok")
        if not isinstance(ok, bool):
            raise _BadRequest("parameter \"ok\" is required")
        error = p.get("error_message")
        if not ok and not error:
            raise _BadRequest("ERROR_MESSAGE_EMPTY")
        query.answer, query.answered_at = {"ok": ok, "error_message": error}, time.monotonic()
        return True

    async def _m_answercallbackquery(self, p: dict[str, Any]) -> Any:
        self.callback_answers.append(p)
        return True

    async def _m_setmycommands(self, p: dict[str, Any]) -> Any:
        self.commands.append(p)
        return True

    async def _m_deletemycommands(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_getfile(self, p: dict[str, Any]) -> Any:
        f = self.files.get(str(p.get("file_id")))
        if f is None:
            raise _BadRequest("invalid file_id")
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": len(f.content),
                "file_path": f.path}

    async def _m_setwebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = {"url": p.get("url", ""), "secret_token": p.get("secret_token"),
                        "allowed_updates": p.get("allowed_updates")}
        return True

    async def _m_deletewebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = {"url": ""}
        return True

    async def _m_getwebhookinfo(self, p: dict[str, Any]) -> Any:
        info: dict[str, Any] = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                "pending_update_count": len(self.pending_updates())}
        if self.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = int(self.webhook_error[0]), self.webhook_error[1]
        if self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _m_getchatmember(self, p: dict[str, Any]) -> Any:
        chat_id, user_id = p.get("chat_id"), p.get("user_id")
        status = self.chat_members.get((chat_id, user_id))  # type: ignore[arg-type]
        if status is None:
            status = "administrator" if user_id == BOT_USER["id"] else "left"
        user = BOT_USER if user_id == BOT_USER["id"] else self._user(int(user_id))  # type: ignore[arg-type]
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "administrator":
            member.update({
                "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
                "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
                "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False,
                "can_pin_messages": True, "can_send_welcome_messages": False,
            })
        elif status == "restricted":
            member.update({"is_member": True, "until_date": 0})
            member.update({f"can_{right}": False for right in (
                "send_messages", "send_audios", "send_documents", "send_photos", "send_videos", "send_video_notes",
                "send_voice_notes", "send_polls", "send_other_messages", "add_web_page_previews",
                "react_to_messages", "edit_tag", "change_info", "invite_users", "pin_messages", "manage_topics",
            )})
        return member


class _BadRequest(Exception):
    pass


class _Conflict(Exception):
    pass


class _OutageStarted(Exception):
    """An outage began while a long poll waited: it ends with the proxy's error, as a real one would."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
