"""Shutdown: no new work once stopping, the side server closes before the services it calls, and the
whole stop fits docker-compose's grace period (else Docker kills the bot mid-write)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import aiohttp
import yaml

from bot.app import STOP_AFTER_DRAIN_SECONDS, Application
from bot.config import load_settings
from testkit import ROOT
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings
from tests.helpers import CUSTOMER_ID, admin_headers

MARGIN_SECONDS = 2.0  # process exit after stop(): the loop's own cleanup, thread joins


def grace_period_seconds() -> float:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    value = str(compose["services"]["bot"]["stop_grace_period"])
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert match and value, f"stop_grace_period {value!r}: expected e.g. 30s or 1m30s"
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def test_the_default_stop_budget_fits_docker_composes_grace_period() -> None:
    settings = load_settings(_env_file=None)
    budget = settings.shutdown_timeout_seconds + STOP_AFTER_DRAIN_SECONDS + MARGIN_SECONDS
    assert budget <= grace_period_seconds(), (
        f"SHUTDOWN_TIMEOUT_SECONDS {settings.shutdown_timeout_seconds} + {STOP_AFTER_DRAIN_SECONDS} s to close "
        f"+ {MARGIN_SECONDS} s margin exceeds stop_grace_period {grace_period_seconds()} s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_stopping_refuses_admin_requests_closes_the_side_server_first_and_keeps_to_its_budget(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A reply and a staff notification hang at Telegram while SIGTERM arrives: the stop still ends in time."""
    settings = make_settings(tmp_path, telegram.url, shutdown_timeout_seconds=2.0, staff_chat_id=-100123)
    app = Application(settings)
    await app.start()
    assert app.services is not None and app.services.outbox is not None and app.port is not None
    base = f"http://127.0.0.1:{app.port}"
    side_server_open_when: dict[str, bool] = {}
    for name in ("outbox", "knowledge"):  # the first and the last service to stop
        component = getattr(app.services, name)
        original = component.stop

        async def spy(original=original, name=name) -> None:  # type: ignore[no-untyped-def]
            side_server_open_when[name] = port_open(app.port)  # type: ignore[arg-type]
            await original()

        component.stop = spy
    telegram.delays["sendmessage"] = 60.0  # Telegram takes every send and never answers
    telegram.send_text(CUSTOMER_ID, "/start")
    await telegram.wait_for(lambda: app.services.inflight.count == 1)  # type: ignore[union-attr]
    async with http.post(f"{base}/api/telegram/notify", json={"text": "new order", "wait": 0},
                         headers=admin_headers()) as r:
        assert r.status == 202  # pending: its send hangs too
    await telegram.wait_for(lambda: len(telegram.calls("sendMessage")) == 2)

    started = time.monotonic()
    stopping = asyncio.create_task(app.stop())
    await asyncio.sleep(0)  # let stop() begin: it sets `stopping` before its first await
    assert app.status.stopping
    async with http.post(f"{base}/api/agent/chat", json={"user_id": 5, "text": "hi"}, headers=admin_headers()) as r:
        refused = (r.status, await r.json(), r.headers.get("Retry-After"))
    async with http.get(f"{base}/readyz") as r:
        probe = (r.status, await r.json())
    await stopping
    took = time.monotonic() - started

    assert refused == (503, {"error": "shutting down"}, "5")
    assert probe[0] == 503 and "stopping" in probe[1]["reasons"]  # probes still answer while draining
    assert side_server_open_when == {"outbox": False, "knowledge": False}
    assert not port_open(app.port)
    assert took <= settings.shutdown_timeout_seconds + STOP_AFTER_DRAIN_SECONDS, took
    print(f"\n[stop with a hung reply and a hung notification] took {took:.2f}s "
          f"(budget {settings.shutdown_timeout_seconds + STOP_AFTER_DRAIN_SECONDS:.0f}s)")
