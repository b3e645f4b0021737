"""Languages end to end: a German customer gets every fixed text in German, /language switches and persists,
the staff group has its own language, and a German question is never served an English cached answer.

The real app against the fake Bot API (which sends `from.language_code` like Telegram) and the fake OpenAI server.
"""

from __future__ import annotations

from pathlib import Path

from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.settings import make_settings, with_openai
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import order_settings, press

GERMAN = 1003
ENGLISH = 1004


def plain(message: SentMessage) -> str:
    """The text with Babel's no-break spaces ("3,20\u00a0€") as plain ones, for readable assertions."""
    return message.text.replace("\u00a0", " ")


def labels(message: SentMessage) -> list[str]:
    return [b["text"].replace("\u00a0", " ") for b in message.buttons()]


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str) -> SentMessage:
    return await telegram.wait_for(
        lambda: next((m for m in reversed(telegram.sent_to(chat_id)) if contains.lower() in plain(m).lower()), None)
    )


async def _until(telegram: FakeTelegram, message: SentMessage, contains: str) -> SentMessage:
    await telegram.wait_for(lambda: contains.lower() in plain(message).lower())
    return message


async def _reply_to(telegram: FakeTelegram, user_id: int, text: str) -> SentMessage:
    before = len(telegram.sent_to(user_id))
    telegram.send_text(user_id, text)
    [reply] = await telegram.wait_for_messages(user_id, 1, after=before)
    return reply


async def test_a_german_customer_gets_start_help_menu_cart_checkout_status_and_errors_in_german(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_language(GERMAN, "de-DE")  # the region is ignored: the German catalogue answers
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url, rate_limit_messages=100)):
        start = await _reply_to(telegram, GERMAN, "/start")
        assert "Ich bin der Assistent des Cafés" in plain(start) and "Schick /help" in plain(start)
        assert "I'm the cafe's assistant" not in plain(start)
        assert "Kaffee aus dem Kiez" in plain(start) and "Neighbourhood coffee" not in plain(start)  # cafe.yaml's de
        assert "eingeschränkten Modus" in plain(start)  # no OPENAI_API_KEY: the limited-mode note, in German too
        help_text = await _reply_to(telegram, GERMAN, "/help")
        assert "<b>Befehle</b>" in plain(help_text) or "Befehle" in plain(help_text)
        assert "/menu — Speisekarte ansehen und bestellen" in plain(help_text)
        assert "/language — Sprache wählen" in plain(help_text)

        page = await _reply_to(telegram, GERMAN, "/menu")
        assert "Wähle eine Kategorie" in plain(page)
        assert "🛒 Warenkorb" in labels(page)
        assert "Kaffee" in labels(page) and "Coffee" not in labels(page)  # menu.yaml's `name: {en: .., de: ..}`
        await press(telegram, GERMAN, page, "Kaffee")
        await _until(telegram, page, "Tippe auf einen Artikel")
        assert plain(page).startswith("📋 Kaffee")  # items without a German name keep theirs
        assert "Cappuccino — small 3,30 € / large 3,90 €" in plain(page)
        assert any(label.startswith("Cappuccino · ab 3,30 €") for label in labels(page))
        assert "« Kategorien" in labels(page)
        await press(telegram, GERMAN, page, "Cappuccino")
        await _until(telegram, page, "Allergene: milk")
        await press(telegram, GERMAN, page, "large")
        await press(telegram, GERMAN, page, "+")
        await _until(telegram, page, "2 × Cappuccino (large) = 7,80 €")
        await press(telegram, GERMAN, page, "2 in den Warenkorb")
        await _until(telegram, page, "2 × Cappuccino (large) hinzugefügt")
        assert "Dein Warenkorb: 2 Artikel, 7,80 €" in plain(page)
        await press(telegram, GERMAN, page, "Warenkorb ansehen")
        await _until(telegram, page, "Summe: 7,80 €")
        assert "Dein Warenkorb" in plain(page)
        assert {"🧹 Leeren", "📋 Mehr hinzufügen", "✅ Bestellen"} <= set(labels(page))
        await press(telegram, GERMAN, page, "Bestellen")
        await _until(telegram, page, "Wann holst du sie ab")

        error = await _reply_to(telegram, GERMAN, "irgendwann")  # not a time: the refusal is German
        assert "Bitte schick eine Uhrzeit wie 12:30" in plain(error)

        await press(telegram, GERMAN, page, "So bald wie möglich")
        await _until(telegram, page, "Sollen wir etwas wissen")
        assert "Abholung so bald wie möglich" in plain(page)
        telegram.send_text(GERMAN, "Hafermilch bitte")
        summary = await _latest(telegram, GERMAN, "Bitte prüfe deine Bestellung")
        assert "Notiz: Hafermilch bitte" in plain(summary) and "Summe: 7,80 €" in plain(summary)
        await press(telegram, GERMAN, summary, "Bestellung bestätigen")
        await _until(telegram, summary, "aufgegeben")
        assert "Bestellung #001 aufgegeben – 7,80 €, Abholung so bald wie möglich" in plain(summary)
        assert labels(summary) == ["✖ Bestellung stornieren"]

        # The staff group reads its own language (STAFF_LANGUAGE, English by default), whatever the customer's.
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        assert "🆕 Order #001 · NEW" in plain(card) and "2 × Cappuccino (large) — €7.80" in plain(card)
        before = len(telegram.sent_to(GERMAN))
        await press(telegram, STAFF_MEMBER, card, "Accept")
        await _until(telegram, card, "ACCEPTED")
        await press(telegram, STAFF_MEMBER, card, "Preparing")
        await _until(telegram, card, "PREPARING")
        await press(telegram, STAFF_MEMBER, card, "Ready")
        await _until(telegram, card, "READY")
        told = await telegram.wait_for_messages(GERMAN, 3, after=before)
        assert [plain(m) for m in told] == [
            "👍 Deine Bestellung #001 wurde angenommen – wir legen gleich los.",
            "☕ Wir bereiten deine Bestellung #001 zu.",
            "✅ Deine Bestellung #001 ist fertig! Hol sie an der Theke ab.",
        ]

        orders = await _reply_to(telegram, GERMAN, "/orders")
        assert "Deine letzten Bestellungen" in plain(orders) and "fertig · 7,80 €" in plain(orders)
        empty = await _reply_to(telegram, GERMAN, "/cart")
        assert "Dein Warenkorb ist leer" in plain(empty)
        unknown = await _reply_to(telegram, GERMAN, "/frobnicate")
        assert "Diesen Befehl kenne ich nicht" in plain(unknown)
        photo_before = len(telegram.sent_to(GERMAN))
        telegram.send_media(GERMAN, "photo")
        [photo] = await telegram.wait_for_messages(GERMAN, 1, after=photo_before)
        assert "Fotos kann ich nicht öffnen" in plain(photo)
        stale = len(telegram.callback_answers)
        telegram.send_callback(GERMAN, "zz:nothing")
        alert = await telegram.wait_for(lambda: telegram.callback_answers[stale]
                                        if len(telegram.callback_answers) > stale else None)
        assert "Dieser Knopf funktioniert nicht mehr" in alert["text"]


async def test_the_staff_group_reads_staff_language_while_an_english_customer_is_unchanged(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_language(ENGLISH, "en")
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url, staff_language="de")):
        page = await _reply_to(telegram, ENGLISH, "/menu")
        assert "Pick a category" in plain(page)
        await press(telegram, ENGLISH, page, "Coffee")
        await press(telegram, ENGLISH, page, "Flat White")
        await _until(telegram, page, "1 × Flat White = €3.60")
        await press(telegram, ENGLISH, page, "Add 1 to cart")
        await _until(telegram, page, "Your cart: 1 item, €3.60")
        await press(telegram, ENGLISH, page, "Checkout")
        await press(telegram, ENGLISH, page, "As soon as possible")
        await press(telegram, ENGLISH, page, "Skip")
        await _until(telegram, page, "Please check your order")
        await press(telegram, ENGLISH, page, "Confirm order")
        await _until(telegram, page, "Order #001 placed")

        card = await _latest(telegram, STAFF_CHAT, "Bestellung #001")
        assert "🆕 Bestellung #001 · NEU" in plain(card) and "1 × Flat White — 3,60 €" in plain(card)
        assert "Summe: 3,60 €" in plain(card) and "Abholung so bald wie möglich" in plain(card)
        assert labels(card) == ["👍 Annehmen", "❌ Stornieren"]
        before = len(telegram.sent_to(ENGLISH))
        answered = await press(telegram, STAFF_MEMBER, card, "Annehmen")
        await _until(telegram, card, "ANGENOMMEN")
        [told] = await telegram.wait_for_messages(ENGLISH, 1, after=before)
        assert telegram.callback_answers[answered]["text"] == "Bestellung #001: angenommen"
    assert plain(told) == "👍 Your order #001 was accepted — we'll start on it shortly."


async def test_language_command_switches_and_the_choice_survives_a_restart(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, telegram.url)
    async with running_app(settings):
        asked = await _reply_to(telegram, CUSTOMER_ID, "/language")  # no language_code: English
        assert "Which language should I write in?" in plain(asked)
        assert labels(asked) == ["• English", "Deutsch"]
        await press(telegram, CUSTOMER_ID, asked, "Deutsch")
        await _until(telegram, asked, "Ich schreibe ab jetzt auf Deutsch")
        reset = await _reply_to(telegram, CUSTOMER_ID, "/reset")
        assert "Neuer Anfang" in plain(reset)

    async with running_app(settings):  # a new process: the choice comes back from the database
        start = await _reply_to(telegram, CUSTOMER_ID, "/start")
        assert "Ich bin der Assistent des Cafés" in plain(start)
        asked = await _reply_to(telegram, CUSTOMER_ID, "/language")
        assert labels(asked) == ["English", "• Deutsch"]
        await press(telegram, CUSTOMER_ID, asked, "English")
        await _until(telegram, asked, "I'll write in English from now on")
        start = await _reply_to(telegram, CUSTOMER_ID, "/start")
    assert "I'm the cafe's assistant" in plain(start) and "Neighbourhood coffee" in plain(start)


async def test_the_choice_wins_over_telegrams_language(telegram: FakeTelegram, tmp_path: Path) -> None:
    telegram.set_language(GERMAN, "de")
    async with running_app(make_settings(tmp_path, telegram.url)):
        asked = await _reply_to(telegram, GERMAN, "/language")
        assert "In welcher Sprache soll ich schreiben?" in plain(asked)
        await press(telegram, GERMAN, asked, "English")
        reply = await _reply_to(telegram, GERMAN, "/help")
    assert "<b>Commands</b>" in plain(reply) or "Commands" in plain(reply)
    assert "/menu — Browse the menu and order" in plain(reply)


async def test_german_offline_answers_in_limited_mode(telegram: FakeTelegram, tmp_path: Path) -> None:
    telegram.set_language(GERMAN, "de")
    async with running_app(make_settings(tmp_path, telegram.url)):
        await _reply_to(telegram, GERMAN, "Hallo")  # the first answer of a dialog carries the limited-mode note
        vegan = await _reply_to(telegram, GERMAN, "Was habt ihr Veganes?")
        wifi = await _reply_to(telegram, GERMAN, "Wie ist das WLAN-Passwort?")
        hours = await _reply_to(telegram, GERMAN, "Wann habt ihr am Sonntag geöffnet?")
        price = await _reply_to(telegram, GERMAN, "Was kostet ein Flat White?")
    assert "Unsere Angebote (vegan):" in plain(vegan) and "Vegan Brownie — 3,90 €" in plain(vegan)
    assert "📶 WLAN: Netzwerk" in plain(wifi) and "Passwort" in plain(wifi)
    assert "Sonntag" in plain(hours) and "geöffnet" in plain(hours)
    assert "Flat White — 3,60 €" in plain(price) and "Allergene:" in plain(price)


async def test_a_german_question_is_never_answered_from_an_english_cached_answer(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    """The exact cache keys the customer's language: the same words from a German reader miss the English answer."""
    telegram.set_language(ENGLISH, "en")
    telegram.set_language(GERMAN, "de")
    question = "Do you have oat milk?"  # the same words from both: only the reader's language differs
    openai_server.script("Yes, we have oat milk.", "Ja, wir haben Hafermilch.")
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server))) as app:
        english = await _reply_to(telegram, ENGLISH, question)
        english_again = await _reply_to(telegram, CUSTOMER_ID, question)  # another English reader: the cache
        german = await _reply_to(telegram, GERMAN, question)
        await _reply_to(telegram, GERMAN, "/reset")
        german_again = await _reply_to(telegram, GERMAN, question)  # the German answer is cached for German readers
        sources = [r["source"] for r in await app.db.fetchall(
            "SELECT source FROM agent_events ORDER BY id")]
    assert plain(english) == plain(english_again) == "Yes, we have oat milk."
    assert plain(german) == plain(german_again) == "Ja, wir haben Hafermilch."
    assert openai_server.request_count == 2
    assert sources == ["llm", "cache", "llm", "cache"]
