"""The semantic cache's rules on words alone (no model): entities, follow-ups, personal, clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge.loader import load_menu
from bot.semantic.entities import Entity, Lexicon
from bot.semantic.guards import Reason, pair_rule
from bot.semantic.sharing import Blocker, CacheKind, assess, is_follow_up, is_personal
from bot.semantic.text import edit_distance, stem, tokens
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    menu, _ = load_menu(ROOT / "data" / "menu.yaml")
    return Lexicon(menu)


def entities(lexicon: Lexicon, text: str) -> set[str]:
    return {str(e) for e in lexicon.analyse(text).entities}


def test_tokens_expand_contractions_times_and_accents() -> None:
    assert tokens("Don't you open at 8.30am on Sunday? Caffè Latte €3") == [
        "do", "not", "you", "open", "at", "8:30", "am", "on", "sunday", "caffe", "latte", "euro", "3",
    ]
    assert [stem(w) for w in ("lattes", "tomatoes", "sandwiches", "pastries", "glass")] == [
        "latte", "tomato", "sandwich", "pastry", "glass",
    ]
    assert edit_distance("capuccino", "cappuccino", 2) == 1
    assert edit_distance("expresso", "espresso", 2) == 1


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Is the TOMATO SOUP vegan?", {"item:tomato-soup", "diet:vegan"}),
        ("is the tomatoe soup plant based", {"item:tomato-soup", "diet:vegan"}),  # typo, synonym
        ("how much r large lattes", {"item:latte", "size:large"}),  # plural
        ("what does a big latte cost", {"item:latte", "size:large"}),  # synonym size
        ("how much is a capuccino", {"item:cappuccino"}),  # typo
        ("do you guys have cheese cake", {"item:cheesecake"}),  # split word
        ("flatwhite cost", {"item:flat-white"}),  # joined words
        ("are your brownies vegan", {"item:vegan-brownie", "diet:vegan"}),
        ("How much is a chocolate croissant?", {"item:pain-au-chocolat"}),  # alias, longest match
        ("r u open sundays", {"day:sunday"}),
        ("booking for eight people", {"attr:booking", "number:8"}),  # number word
        ("can i reserve a table for 8", {"attr:booking", "number:8"}),
        ("Are you open on Sunday at 5pm?", {"day:sunday", "number:5", "day:pm"}),
        ("Do you have oat milk?", {"attr:milk-oat"}),
        ("Is the oat latte vegan?", {"item:oat-latte", "diet:vegan"}),
        ("What soups do you have?", {"category:soup"}),
        ("What salads do you have?", {"category:salad"}),
    ],
)
def test_entities_use_the_menu_as_dictionary(lexicon: Lexicon, question: str, expected: set[str]) -> None:
    assert entities(lexicon, question) == expected


def test_a_real_english_word_is_never_corrected_into_a_menu_word(lexicon: Lexicon) -> None:
    assert entities(lexicon, "are you open late on thursday") == {"day:thursday"}  # "late" is not "latte"


def test_unknown_variants_of_a_menu_item_keep_their_own_identity(lexicon: Lexicon) -> None:
    latte = lexicon.analyse("how much is a large latte")
    matcha = lexicon.analyse("how much is a large matcha latte")
    assert matcha.entities != latte.entities
    assert Entity("item", "latte+matcha") in matcha.entities
    assert entities(lexicon, "do you have chocolate muffins") == {"item:blueberry-muffin+chocolate"}
    assert entities(lexicon, "what coffee beans do you use") == {"category:coffee+bean"}


@pytest.mark.parametrize(
    ("question", "cached", "reason"),
    [
        ("Is the lentil soup vegan?", "Is the tomato soup vegan?", Reason.ENTITIES),
        ("Is the tomato soup gluten-free?", "Is the tomato soup vegan?", Reason.ENTITIES),
        ("How much is a small latte?", "How much is a large latte?", Reason.ENTITIES),
        ("How much are two large lattes?", "How much is a large latte?", Reason.ENTITIES),
        ("Are you open on Saturday?", "Are you open on Sunday?", Reason.ENTITIES),
        ("Can I reserve a table for 4 people?", "Can I reserve a table for 8 people?", Reason.ENTITIES),
        ("Do you have almond milk?", "Do you have oat milk?", Reason.ENTITIES),
        ("What time do you open on Friday?", "What time do you close on Friday?", Reason.ASPECT),
        ("What's in the oat latte?", "What sizes does the oat latte come in?", Reason.ASPECT),
        ("Is the tomato soup not vegan?", "Is the tomato soup vegan?", Reason.NEGATION),
        ("tomato soup vegan?", "Is the tomato soup vegan?", None),
        ("how late are you open on fridays", "What time do you close on Friday?", Reason.ASPECT),
        ("How much is the cheesecake?", "Do you have cheesecake?", Reason.ASPECT),
        ("what coffee do you recommend", "What coffees do you have?", Reason.ASPECT),
        ("do you have gluten free bread", "What gluten-free options do you have?", Reason.UNKNOWN_WORD),
        ("how much is a large latte with an extra shot", "How much is a large latte?", Reason.UNKNOWN_WORD),
        ("How much is a large latte?", "how much is a large latte with an extra shot", Reason.UNKNOWN_WORD),
        ("when do u close on friday", "What time do you close on Friday?", None),
    ],
)
def test_pair_rules(lexicon: Lexicon, question: str, cached: str, reason: Reason | None) -> None:
    assert pair_rule(lexicon.analyse(question), lexicon.analyse(cached)) == reason


@pytest.mark.parametrize(
    "question",
    ["and how much is it?", "what about the large one", "and on saturday?", "is it vegan?", "how much is that",
     "does it come in large", "yes please", "the small one", "large please"],
)
def test_follow_ups_are_recognised(lexicon: Lexicon, question: str) -> None:
    analysis = lexicon.analyse(question)
    assert is_follow_up(analysis)
    assert assess(analysis).serve_blocker(CacheKind.SEMANTIC) == Blocker.FOLLOW_UP


@pytest.mark.parametrize(
    "question",
    ["Is the tomato soup vegan?", "what do you have that is gluten free", "is it possible to make a booking",
     "how long does it take to get a pickup order ready", "does the carrot cake have nuts in it",
     "Are you open on Sunday?", "wifi?"],
)
def test_standalone_questions_are_not_follow_ups(lexicon: Lexicon, question: str) -> None:
    assert assess(lexicon.analyse(question)).serve_blocker(CacheKind.SEMANTIC) is None


@pytest.mark.parametrize("question", ["what's in my cart?", "where is my order?", "what did I order last time?",
                                      "can you repeat my order", "what is my name"])
def test_personal_questions_never_use_the_shared_cache(lexicon: Lexicon, question: str) -> None:
    analysis = lexicon.analyse(question)
    assert is_personal(analysis.text)
    assert assess(analysis).serve_blocker() == Blocker.PERSONAL


def test_my_laptop_is_not_personal_data(lexicon: Lexicon) -> None:
    assert assess(lexicon.analyse("Can I work on my laptop here?")).serve_blocker() is None


@pytest.mark.parametrize("question", ["are you open now?", "are you open today?", "what time do you close today",
                                      "are you still open", "is the kitchen open right now"])
def test_questions_about_now_never_use_the_cache(lexicon: Lexicon, question: str) -> None:
    assert assess(lexicon.analyse(question)).serve_blocker() == Blocker.TIME_RELATIVE


def test_the_lexicon_follows_a_menu_change(tmp_path: Path) -> None:
    text = (ROOT / "data" / "menu.yaml").read_text().replace("name: Mocha", "name: Mocha\n        aliases: [matcha]")
    (tmp_path / "menu.yaml").write_text(text)
    menu, _ = load_menu(tmp_path / "menu.yaml")
    assert entities(Lexicon(menu), "is there matcha") == {"item:mocha"}
