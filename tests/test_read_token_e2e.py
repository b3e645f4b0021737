"""READ_TOKEN on the running side server: which endpoints ask for it, which never do, and who gets in."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.logging_setup import REDACTED, RedactingFilter
from bot.ops.cli import fetch_live
from bot.ops.cli import read_headers as read_headers_for
from bot.services import Seams
from bot.voice import WhisperTranscriber
from testkit import ROOT
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings
from tests.helpers import CUSTOMER_ID, READ_TOKEN, admin_headers, read_headers, running_app

READ_ENDPOINTS = ["/metrics", "/api/cache", "/api/slo", "/api/telegram", "/api/agent/chat", "/api/agent/whisper"]
PROBES = ["/healthz", "/readyz"]
WRONG = [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {READ_TOKEN}"},
         {"Authorization": READ_TOKEN}, {"Authorization": "Bearer "}]


async def status_of(http: aiohttp.ClientSession, url: str, headers: dict[str, str], method: str = "GET") -> int:
    async with http.request(method, url, headers=headers) as r:
        await r.read()
        return r.status


async def test_with_read_token_set_every_read_endpoint_wants_it_or_the_admin_token_and_probes_stay_open(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    async with running_app(make_settings(tmp_path, read_token=READ_TOKEN), Seams(transcriber=whisper)) as app:
        base = f"http://127.0.0.1:{app.port}"
        refused = {(path, i): await status_of(http, base + path, headers)
                   for path in READ_ENDPOINTS for i, headers in enumerate(WRONG)}
        with_read = {path: await status_of(http, base + path, read_headers()) for path in READ_ENDPOINTS}
        with_admin = {path: await status_of(http, base + path, admin_headers()) for path in READ_ENDPOINTS}
        probes = {path: await status_of(http, base + path, {}) for path in PROBES}
        head = await status_of(http, base + "/metrics", {}, method="HEAD")
        unknown = await status_of(http, base + "/api/nothing-here", {})
        async with http.get(base + "/api/cache") as r:
            body, challenge = await r.json(), r.headers.get("WWW-Authenticate")
        # The read token opens no door the admin token guards.
        async with http.post(base + "/api/cache", json={"action": "warmup"}, headers=read_headers()) as r:
            post_with_read = r.status

    assert set(refused.values()) == {401}
    assert with_read == with_admin == dict.fromkeys(READ_ENDPOINTS, 200)
    assert probes == {"/healthz": 200, "/readyz": 200}
    assert head == 401 and unknown == 401  # nothing about which paths exist before the token
    assert "READ_TOKEN" in body["error"] and READ_TOKEN not in body["error"] and challenge == "Bearer"
    assert post_with_read == 401


async def test_without_read_token_the_read_endpoints_stay_open_as_before(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    async with running_app(make_settings(tmp_path), Seams(transcriber=whisper)) as app:
        base = f"http://127.0.0.1:{app.port}"
        statuses = {path: await status_of(http, base + path, {}) for path in READ_ENDPOINTS + PROBES}
        wrong = await status_of(http, base + "/api/cache", {"Authorization": "Bearer whatever"})
    assert statuses == dict.fromkeys(READ_ENDPOINTS + PROBES, 200)
    assert wrong == 200  # no token configured: a header is ignored, not judged


async def test_the_telegram_webhook_needs_only_its_secret_when_read_token_is_set(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(tmp_path, telegram.url, bot_mode="webhook", webhook_base_url="https://bot.example.com",
                             webhook_secret="hook-secret_1", read_token=READ_TOKEN)
    update = {
        "update_id": 78,
        "message": {"message_id": 6, "date": 1700000000, "text": "/start",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                    "chat": {"id": CUSTOMER_ID, "type": "private"},
                    "from": {"id": CUSTOMER_ID, "is_bot": False, "first_name": "Web"}},
    }
    async with running_app(settings) as app:
        url = f"http://127.0.0.1:{app.port}/telegram/webhook"
        async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret_1"}) as r:
            status = r.status
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
    assert status == 200 and "Hi, Web" in reply.text


def test_docker_compose_publishes_the_side_server_on_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    ports = [str(p) for service in compose["services"].values() for p in service.get("ports", [])]
    assert ports, "the bot's side server should still be published for the host's own tools"
    for port in ports:
        host = port.rsplit(":", 2)[0] if port.count(":") == 2 else None
        assert host == "127.0.0.1", f"{port!r} is reachable from other machines"


def test_the_read_token_is_blanked_in_logs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, read_token=READ_TOKEN)
    redactor = RedactingFilter(settings.secret_values())
    assert redactor.redact(f"GET /metrics Authorization: Bearer {READ_TOKEN}") == (
        f"GET /metrics Authorization: Bearer {REDACTED}")


async def test_slo_command_sends_the_read_token_and_says_so_when_the_bot_refuses_it(
    tmp_path: Path, whisper: WhisperTranscriber, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, read_token=READ_TOKEN)
    async with running_app(settings, Seams(transcriber=whisper)) as app:
        url = f"http://127.0.0.1:{app.port}"
        live = await fetch_live(url, read_headers_for(settings))
        admin_only = await fetch_live(url, read_headers_for(make_settings(tmp_path / "other")))
        refused = await fetch_live(url, {})
    assert live is not None and "targets" in live
    assert admin_only is not None  # a CLI environment with only ADMIN_API_TOKEN is let in too
    assert refused is None and "set READ_TOKEN" in capsys.readouterr().err
