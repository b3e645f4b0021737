"""The offline answerer against the shipped sample data (data/menu.yaml, data/cafe.yaml)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.agent.offline import OfflineAnswerer
from bot.config import DATA_DIR
from bot.i18n import Catalogues, use_locale
from bot.knowledge.loader import load_cafe, load_menu

MENU, _ = load_menu(DATA_DIR / "menu.yaml")
CAFE, _ = load_cafe(DATA_DIR / "cafe.yaml")
VEGAN = {"Espresso", "Americano", "Oat Latte", "English Breakfast Tea", "Sencha Green Tea", "Fresh Orange Juice",
         "Homemade Lemonade", "Avocado Toast", "Vegan Breakfast", "Porridge", "Falafel Wrap", "Red Lentil Soup",
         "Quinoa Salad", "Vegan Brownie"}
# 2025-11-27 is a Thursday; 13:00 UTC is 14:00 in Berlin.
THURSDAY_2PM = dt.datetime(2025, 11, 27, 13, 0, tzinfo=dt.UTC)


@pytest.fixture
def offline() -> OfflineAnswerer:
    return OfflineAnswerer(lambda: MENU, lambda: CAFE)


def listed_items(answer: str) -> set[str]:
    return {line[2:].split(" — ")[0] for line in answer.splitlines() if line.startswith("• ")}


def test_the_sample_data_has_exactly_these_vegan_items() -> None:
    assert {i.name for i in MENU.items() if "vegan" in i.tags} == VEGAN


@pytest.mark.parametrize("question", ["Do you have anything vegan?", "vegan options pls", "What can vegans eat?"])
def test_vegan_question_lists_every_vegan_item_with_its_price(offline: OfflineAnswerer, question: str) -> None:
    answer = offline.answer(question)
    assert answer is not None
    assert listed_items(answer) == VEGAN
    assert "• Espresso — €2.40" in answer and "• Americano — small €2.90 / large €3.40" in answer


def test_dietary_question_narrowed_to_a_category(offline: OfflineAnswerer) -> None:
    answer = offline.answer("any gluten-free cakes in the bakery?")
    assert answer is not None and listed_items(answer) == {"Gluten-free Banana Bread"}


def test_vegetarian_and_gluten_free_together(offline: OfflineAnswerer) -> None:
    answer = offline.answer("something vegetarian and gluten free?")
    expected = {i.name for i in MENU.items() if {"vegetarian", "gluten-free"} <= set(i.tags)}
    assert answer is not None and listed_items(answer) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("When are you open on Sunday?", "Sunday: open 09:00–16:00"),
    ("opening hours saturday", "Saturday: open 09:00–20:00"),
    ("How late are you open today?", "Thursday (today): open 07:30–20:00"),
    ("are you open tomorrow?", "Friday (tomorrow): open 07:30–20:00"),
])
def test_hours_for_a_day(offline: OfflineAnswerer, question: str, expected: str) -> None:
    answer = offline.answer(question, now=THURSDAY_2PM)
    assert answer is not None and expected in answer


def test_hours_without_a_day_list_the_whole_week(offline: OfflineAnswerer) -> None:
    answer = offline.answer("What are your opening hours?", now=THURSDAY_2PM)
    assert answer is not None
    for day, hours in CAFE.hours.items():
        assert f"{day.capitalize()}: open {hours.replace('-', '–')}" in answer


def test_open_now(offline: OfflineAnswerer) -> None:
    assert "open right now, until 20:00" in (offline.answer("are you open now?", now=THURSDAY_2PM) or "")
    late = dt.datetime(2025, 11, 27, 21, 0, tzinfo=dt.UTC)  # 22:00 Thursday in Berlin
    assert "open again tomorrow at 07:30" in (offline.answer("are you open now?", now=late) or "")


def test_an_items_price_description_and_allergens(offline: OfflineAnswerer) -> None:
    answer = offline.answer("What's in the club sandwich and how much is it?")
    club = MENU.item("club-sandwich")
    assert answer is not None and club is not None
    assert answer.startswith(f"Club Sandwich — {MENU.price(club.min_price_cents)}")
    assert club.description in answer
    assert "Allergens: " + ", ".join(club.allergens) in answer


def test_longest_item_name_wins_and_aliases_match(offline: OfflineAnswerer) -> None:
    answer = offline.answer("how much is an almond croissant?") or ""
    assert answer.startswith("Almond Croissant") and "Butter Croissant" not in answer
    assert (offline.answer("is the caffe latte big?") or "").startswith("Caffè Latte")
    assert (offline.answer("do you have oj?") or "").startswith("Fresh Orange Juice")


def test_sold_out_item_says_so(offline: OfflineAnswerer) -> None:
    assert "sold out today" in (offline.answer("Is there cheesecake?") or "")


@pytest.mark.parametrize(("question", "needle"), [
    ("what's the wifi password?", "flatwhite2024"),
    ("Where are you located?", "Lindenstraße 12"),
    ("can I bring my dog?", "Dogs are welcome"),
    ("do you take cards?", "Apple Pay"),
    ("can I book a table for 8?", "6 or more"),
    ("what's your phone number?", "+49 30 1234 5678"),
    ("show me the menu", "Coffee (from €2.40)"),
    ("what sandwiches do you have?", "Falafel Wrap"),
])
def test_cafe_facts_and_policies(offline: OfflineAnswerer, question: str, needle: str) -> None:
    assert needle in (offline.answer(question) or "")


def test_an_unrecognised_question_gets_none(offline: OfflineAnswerer) -> None:
    assert offline.answer("What is the capital of France?") is None
    assert offline.answer("   ") is None


@pytest.mark.parametrize("question", [
    "I'd like to order 2 flat whites please", "Can I get a cappuccino?", "I'll have the red lentil soup",
])
def test_an_order_in_words_is_pointed_to_the_buttons_that_work_without_the_model(
    offline: OfflineAnswerer, question: str
) -> None:
    answer = offline.answer(question)
    assert answer is not None and "/menu" in answer and "/cart" in answer and "can't take orders in words" in answer


@pytest.mark.parametrize("question", ["How much is a flat white?", "Is the lentil soup vegan?",
                                      "Can I have the carrot cake if I'm allergic to nuts? Does it contain nuts?"])
def test_questions_about_an_item_are_still_answered_about_the_item(offline: OfflineAnswerer, question: str) -> None:
    answer = offline.answer(question)
    assert answer is not None and "can't take orders" not in answer and "Allergens" in answer


# --- cafe.yaml in the customer's language ------------------------------------------------------------------
BEFORE_CHRISTMAS = dt.datetime(2026, 12, 20, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("language", "question", "expected"), [
    ("de", "Sind Hunde erlaubt?", "Hunde sind drinnen willkommen"),
    ("en", "Are dogs allowed?", "Dogs are welcome inside"),
    ("de", "Wie ist das WLAN?", "Für Gäste kostenlos, 2 Stunden pro Sitzung."),
    ("en", "What's the wifi?", "Free for customers, 2 hours per session."),
    ("de", "Öffnungszeiten?", "geschlossen (Weihnachtsfeiertage)"),
    ("en", "opening hours?", "closed (Christmas holidays)"),
])
def test_the_cafe_facts_are_answered_in_the_customers_language(offline: OfflineAnswerer, language: str,
                                                                question: str, expected: str) -> None:
    with use_locale(Catalogues(), language):
        answer = offline.answer(question, BEFORE_CHRISTMAS)
    assert answer is not None and expected in answer
    other = "Dogs are welcome" if language == "de" else "Hunde sind"
    assert other not in answer


def test_a_language_the_cafe_file_does_not_translate_falls_back_to_english(offline: OfflineAnswerer) -> None:
    with use_locale(Catalogues(), "fr"):
        answer = offline.answer("Are dogs allowed?")
    assert answer == CAFE.policies["pets"]
