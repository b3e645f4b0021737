"""The semantic cache inside the real application: Telegram in, the fake OpenAI server behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from bot.semantic import Ct2Embedder
from bot.services import Seams
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import ADMIN_ID, make_settings, with_openai
from tests.helpers import CUSTOMER_ID, admin_headers, poll_until, running_app

SOUP = "No — the tomato soup is vegetarian but not vegan: it is finished with cream."


def semantic_settings(tmp_path: Path, telegram: FakeTelegram, openai: FakeOpenAI, faq: list[str] | None = None,
                      **overrides: Any) -> Any:
    faq_path = tmp_path / "faq.yaml"
    faq_path.write_text("questions:\n" + "".join(f"  - {q}\n" for q in faq or []) if faq else "questions: []\n")
    return make_settings(tmp_path, telegram.url, semantic_cache_enabled=True, faq_path=faq_path,
                         **with_openai(openai, openai_max_retries=0, **overrides))


async def ready(app: Any) -> bool:
    return app.services.semantic.ready


async def entries(app: Any, count: int) -> bool:
    return app.services.semantic.status()["entries"] == count


async def ask(telegram: FakeTelegram, user_id: int, text: str) -> str:
    before = len(telegram.sent_to(user_id))
    telegram.send_text(user_id, text)
    [reply] = await telegram.wait_for_messages(user_id, after=before)
    return reply.text


async def test_a_paraphrase_is_answered_from_the_semantic_cache_and_the_rest_goes_to_the_model(
    telegram: FakeTelegram, openai_server: FakeOpenAI, embedder: Ct2Embedder, tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    settings = semantic_settings(tmp_path, telegram, openai_server)
    async with running_app(settings, Seams(embedder=embedder)) as app:
        await poll_until(lambda: ready(app))
        openai_server.script(SOUP)
        assert await ask(telegram, CUSTOMER_ID, "Is the tomato soup vegan?") == SOUP
        assert openai_server.request_count == 1

        # Another customer, other words: served from the semantic cache, the model is not asked.
        assert await ask(telegram, CUSTOMER_ID + 1, "is ur tomato soup plant based") == SOUP
        assert openai_server.request_count == 1

        # A hard negative (another item) goes to the model.
        openai_server.script("Yes, the red lentil soup is vegan.")
        assert await ask(telegram, CUSTOMER_ID + 2, "Is the lentil soup vegan?") == "Yes, the red lentil soup is vegan."
        assert openai_server.request_count == 2

        # A follow-up goes to the model even though its words are close to a cached question.
        openai_server.script("It is not gluten-free either: it is served with sourdough.")
        assert await ask(telegram, CUSTOMER_ID, "and is it gluten free?") != SOUP
        assert openai_server.request_count == 3

        # OpenAI failing: the cached answer still serves a paraphrase.
        openai_server.fail(500, times=5)
        assert await ask(telegram, CUSTOMER_ID + 3, "tomato soup vegan?") == SOUP
        assert openai_server.request_count == 3

        stats = app.services.semantic.status()
        assert stats["hits"] == 2 and stats["entries"] == 2  # the follow-up was not stored
        base = f"http://127.0.0.1:{app.port}"
        async with http.get(f"{base}/api/cache") as r:
            semantic = (await r.json())["stats"]["semantic"]
        assert semantic["hits"] == 2 and semantic["latency_p95_ms"] is not None
        async with http.get(f"{base}/api/agent/chat") as r:
            agent = await r.json()
        assert "semantic" in agent["caches"] and agent["cache"]["semantic"]["hits"] == 2

        telegram.send_text(ADMIN_ID, "/cache")
        report = await telegram.wait_for_text(ADMIN_ID, "semantic")
        assert "hit_rate" in report.text


async def test_faq_seeds_are_answered_on_warmup_so_the_first_customer_gets_an_instant_answer(
    telegram: FakeTelegram, openai_server: FakeOpenAI, embedder: Ct2Embedder, tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    openai_server.responder = lambda body: "We are open on Sundays from 09:00 to 16:00."
    settings = semantic_settings(tmp_path, telegram, openai_server, faq=["Are you open on Sunday?"])
    async with running_app(settings, Seams(embedder=embedder)) as app:
        # The startup warmup answers the seed once.
        await poll_until(lambda: entries(app, 1), timeout=30)
        assert openai_server.request_count == 1
        assert await ask(telegram, CUSTOMER_ID, "do you work on sundays") == (
            "We are open on Sundays from 09:00 to 16:00."
        )
        assert openai_server.request_count == 1

        # A warmup again costs no model call: the seed is cached.
        async with http.post(f"http://127.0.0.1:{app.port}/api/cache", json={"action": "warmup"},
                             headers=admin_headers()) as r:
            report = await r.json()
        assert r.status == 200, report
        assert openai_server.request_count == 1


async def test_warmup_menu_readies_the_semantic_index_and_the_faq_answers_for_a_new_menu(
    telegram: FakeTelegram, openai_server: FakeOpenAI, embedder: Ct2Embedder, tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    """`warmup-menu` after a menu edit: the old answers are gone, the seeds come back for the new menu."""
    menu_path = tmp_path / "menu.yaml"
    menu_path.write_text((ROOT / "data" / "menu.yaml").read_text())
    openai_server.responder = lambda body: "A flat white is 3.60 EUR."
    settings = semantic_settings(tmp_path, telegram, openai_server, faq=["How much is a flat white?"],
                                 menu_path=menu_path)
    async with running_app(settings, Seams(embedder=embedder)) as app:
        await poll_until(lambda: entries(app, 1), timeout=30)
        menu_path.write_text(menu_path.read_text().replace("price: 3.60", "price: 3.70"))
        assert (await app.services.knowledge.reload()).changed
        assert app.services.semantic.status()["entries"] == 0  # answers of the old menu are never served
        openai_server.responder = lambda body: "A flat white is 3.70 EUR."

        async with http.post(f"http://127.0.0.1:{app.port}/api/cache", json={"action": "warmup-menu"},
                             headers=admin_headers()) as r:
            report = await r.json()
        assert r.status == 200 and report["group"] == "menu", report
        assert list(report["warmers"]) == ["semantic-index", "faq-seeds"]
        assert report["warmers"]["faq-seeds"]["keys"] == 1 and "error" not in report["warmers"]["semantic-index"]
        requests = openai_server.request_count
        assert await ask(telegram, CUSTOMER_ID, "what does a flat white cost") == "A flat white is 3.70 EUR."
        assert openai_server.request_count == requests  # served from the cache, warmed before the customer asked
