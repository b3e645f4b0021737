"""The semantic cache's rules on words alone (no model): entities, follow-ups, personal, clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge.loader import load_menu
from bot.semantic.entities import Entity, Lexicon
from bot.semantic.guards import Reason, pair_rule
from bot.semantic.sharing import Blocker, CacheKind, assess, is_follow_up, is_personal
from bot.semantic.text import edit_distance, stem, tokens
from testkit import ROOT


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


@pytest.fixture(scope="module")
def matchers() -> dict[str, Lexicon]:
    """The pair rules' dictionaries of both cafes: menu, facts and the matcher's layer."""
    from bot.knowledge.loader import load_cafe

    cafes = {"bundled": ROOT / "data", "cafe2": ROOT / "bench" / "data" / "cafe2"}
    return {name: Lexicon(load_menu(path / "menu.yaml")[0], load_cafe(path / "cafe.yaml")[0], matching=True)
            for name, path in cafes.items()}


@pytest.mark.parametrize(
    ("cafe", "question", "cached", "reason"),
    [
        # Which opening-hours fact: the wrong answer an independent set found was an opening time served
        # for "what time do you close".
        ("cafe2", "what time do you close on saturday", "What time do you open on Saturday?", Reason.ASPECT),
        ("cafe2", "what time do you finish on friday", "What time do you open on Friday?", Reason.ASPECT),
        ("cafe2", "how late are you open on fridays", "What time do you open on Friday?", Reason.ASPECT),
        ("cafe2", "until what time are you open on friday", "What are your opening hours on Friday?", Reason.ASPECT),
        ("cafe2", "What time do you open on Friday?", "how late are you open on fridays", Reason.ASPECT),
        ("cafe2", "what time do you finish on friday", "how late are you open on fridays", None),
        ("cafe2", "are you guys closed on mondays", "Are you open on Mondays?", None),
        ("bundled", "what time do you open on sunday", "Are you open on Sunday?", Reason.ASPECT),
        ("bundled", "do you work on sundays", "Are you open on Sunday?", None),  # asks no particular time
        ("cafe2", "what time do you stop serving brunch", "Until what time do you serve brunch?", None),
        ("cafe2", "When do you start serving brunch?", "Until what time do you serve brunch?", Reason.ASPECT),
        ("cafe2", "how do i order food for pickup", "how long does a pickup order take", Reason.ASPECT),
        # Everyday words for the same thing.
        ("cafe2", "where's the loo", "Do you have toilets?", None),
        ("cafe2", "is there a restroom", "is there a bathroom i can use", None),
        ("cafe2", "do you have a rewards programme", "Do you have a loyalty card?", None),
        ("cafe2", "is there a stamp card", "Do you have a loyalty card?", None),
        ("cafe2", "do students get money off", "Do you have a student discount?", None),
        ("cafe2", "can i order to go", "Can I get food to take away?", None),
        ("cafe2", "do you take contactless", "can i pay by card", None),
        ("cafe2", "do you take reservations", "Can I book a table?", None),
        ("cafe2", "how do i find you", "What's your address?", None),
        ("cafe2", "is the falafel made without wheat", "Is the falafel gluten-free?", None),
        ("bundled", "what can i eat if i am gluten intolerant", "What gluten-free options do you have?", None),
        # Chat spellings, time phrases and price/ingredient wording read generically.
        ("cafe2", "wot r ur hrs on sunday", "What are your opening hours on Sunday?", None),
        ("cafe2", "can i book a table 4 us", "Can I book a table?", None),
        ("cafe2", "what time do you open on saturday morning", "What time do you open on Saturday?", None),
        ("cafe2", "from what time are you open on saturday", "What time do you open on Saturday?", None),
        ("bundled", "are you open monday to friday", "Are you open on weekdays?", None),
        ("bundled", "how much are you charging for a flat white", "How much is a flat white?", None),
        ("bundled", "what does the full breakfast consist of", "What comes with the full breakfast?", None),
        ("cafe2", "can i book a table for 4", "Can I book a table?", Reason.ENTITIES),  # a number stays a number
        ("bundled", "are you open monday and friday", "Are you open on weekdays?", Reason.ENTITIES),
        ("bundled", "are you open tuesday to thursday", "Are you open on weekdays?", Reason.ENTITIES),
        ("cafe2", "what time do you close on saturday morning", "What time do you close on Saturday?",
         Reason.ENTITIES),
        ("bundled", "can i charge my phone", "How much is a flat white?", Reason.ENTITIES),
        # ...and every distinction that changes the answer.
        ("cafe2", "do you take american express", "do you accept visa", Reason.ENTITIES),
        ("cafe2", "do you have a gift card", "Do you have a loyalty card?", Reason.ENTITIES),
        ("cafe2", "do you have a discount for pensioners", "Do you have a student discount?", Reason.ENTITIES),
        ("cafe2", "does the falafel contain gluten", "Is the falafel gluten-free?", Reason.ENTITIES),  # polarity
        ("cafe2", "how much is a pot of mint tea", "how much is a glass of mint tea", Reason.ENTITIES),
        ("cafe2", "can i bring my own wine", "Do you serve alcohol?", Reason.ENTITIES),
        ("cafe2", "do you serve mocktails", "Do you serve alcohol?", Reason.ENTITIES),
        ("bundled", "is the cafe near the park", "Is there parking nearby?", Reason.ENTITIES),
        ("cafe2", "do you deliver to salford", "Do you deliver?", Reason.UNKNOWN_WORD),
        ("cafe2", "are the turkish eggs not spicy", "Are the Turkish eggs spicy?", Reason.NEGATION),
        ("bundled", "I am coeliac, what can I eat", "Are you open at 5 am?", Reason.ENTITIES),
        # The kitchen keeps its own hours in both cafes' data (kitchen_closes_before_minutes): food words make an
        # hours question the kitchen's, so the last food order is never served the closing time, nor the reverse.
        ("bundled", "until what time can i order food on friday", "How late are you open on Fridays?",
         Reason.ENTITIES),
        ("cafe2", "how late are you open on saturday", "until when can I eat on saturday", Reason.ENTITIES),
        ("bundled", "when does the kitchen close on fridays", "Until what time can I order food on a Friday?", None),
        # The words that said the hours fact are no unknown words; a thing's name asks no hours.
        ("cafe2", "what's the latest i can get in on a friday", "How late are you open on Fridays?", None),
        ("cafe2", "what time do you open up on saturday", "What time do you open on Saturdays?", None),
        ("cafe2", "is a keep cup cheaper", "Is there a discount if I bring my own cup?", None),
        # ...and in an hours question a common word says whose hours: "happy hour", "the music".
        ("bundled", "when does happy hour end", "What time do you close?", Reason.UNKNOWN_WORD),
        ("bundled", "when does the music stop", "What time do you close?", Reason.UNKNOWN_WORD),
        # A word right after a cafe attribute is a new thing; a size said of one stays; "same" is a relation.
        ("cafe2", "is there a cash machine nearby", "Do you take cash?", Reason.UNKNOWN_WORD),
        ("bundled", "are big dogs allowed", "Are dogs allowed?", Reason.ENTITIES),
        ("bundled", "is the wifi password the same every day", "What's the wifi password?", Reason.UNKNOWN_WORD),
        # An item by part of its name, or with a word cut short, is that item; a named size asks no sizes.
        ("bundled", "what is the chicken caesar made with", "What's in the chicken Caesar salad?", None),
        ("bundled", "large hot choc, how much?", "What's the price of a large hot chocolate?", None),
        ("bundled", "small hot choc, how much?", "What's the price of a large hot chocolate?", Reason.ENTITIES),
        ("bundled", "price of a cappuccino in the small size", "How much is a small cappuccino?", None),
        ("bundled", "what sizes does the cappuccino come in", "How much is a small cappuccino?", Reason.ENTITIES),
        # Short forms of sizes, weekdays and months; ordinals; named dates; "take X away"; everyday words.
        ("cafe2", "wat does a lrg latte cost", "How much is a large latte?", None),
        ("cafe2", "wat does a sm latte cost", "How much is a large latte?", Reason.ENTITIES),
        ("bundled", "wat time do u shut on sat", "What time do you close on Saturday?", None),
        ("bundled", "wat time do u shut on sun", "What time do you close on Saturday?", Reason.ENTITIES),
        ("bundled", "can we sit in the sun", "Are you open on Sunday?", Reason.ENTITIES),  # "the sun" is the sun
        ("bundled", "open on the 24th of december?", "What are your opening hours on Christmas Eve?", None),
        ("bundled", "open on dec 25th?", "What are your opening hours on Christmas Eve?", Reason.ENTITIES),
        ("bundled", "open on 24 november?", "What are your opening hours on Christmas Eve?", Reason.ENTITIES),
        ("bundled", "can i take my coffee away with me", "Can I get my coffee to go?", None),
        ("cafe2", "could i take a shakshuka home", "Can I get the shakshuka to take away?", None),
        ("cafe2", "could i take a falafel wrap home", "Can I get the shakshuka to take away?", Reason.ENTITIES),
        ("cafe2", "is it ok to bring my pup indoors", "Can I bring my dog inside?", None),
        ("bundled", "what comes in the club sarnie", "What's in the club sandwich?", None),
        ("cafe2", "wat does a teapot of mint tea cost", "How much is a pot of mint tea?", None),
        ("cafe2", "thurs last orders for food?", "What time is last food order on Thursdays?", None),
        ("cafe2", "thurs last orders for food?", "What time do you close on Thursdays?", Reason.ENTITIES),
        ("cafe2", "any surcharge for oat milk", "Do you have oat milk?", Reason.ASPECT),
    ],
)
def test_matcher_pair_rules(matchers: dict[str, Lexicon], cafe: str, question: str, cached: str,
                            reason: Reason | None) -> None:
    lexicon = matchers[cafe]
    assert pair_rule(lexicon.analyse(question), lexicon.analyse(cached)) == reason


def test_the_matcher_embeds_names_not_synonyms(matchers: dict[str, Lexicon]) -> None:
    assert matchers["cafe2"].analyse("where's the loo").key_text == "where the toilet"
    assert matchers["cafe2"].analyse("is the cilbir spicy").key_text == "is the turkish eggs spicy"


def test_the_matcher_layer_leaves_the_sharing_dictionary_alone(lexicon: Lexicon) -> None:
    """The sharing policy reads the base layer: the matcher's synonyms are not entities there."""
    assert entities(lexicon, "where's the loo") == set()
    assert entities(lexicon, "do you have a stamp card") == {"attr:pay-card"}
    assert lexicon.analyse("what time do you finish on friday").aspects == frozenset()


def test_the_soft_unknown_word_rule_lets_a_near_synonym_through() -> None:
    """An unknown word the other question says in other words is no unknown thing; one it does not say still is."""
    import numpy as np

    from bot.semantic.entities import Analysis
    from bot.semantic.guards import unknown_word
    from bot.semantic.words import WordSimilarity, family

    assert family("closed") == family("close") == family("closing")
    assert family("booking") == family("book")

    def analysis(*words: str) -> Analysis:
        return Analysis(text=" ".join(words), tokens=words, entities=frozenset(), aspects=frozenset(), negated=False,
                        time_relative=False, unknown=words[-1:], content=words[-1:])

    vocabulary = {"washstand": 0, "sink": 1, "salford": 2, "sinks": 1}
    table = np.array([[1.0, 0.1], [0.9, 0.2], [0.0, 1.0]], dtype=np.float32)
    words = WordSimilarity(lambda w: [vocabulary[w]] if w in vocabulary else [], table, threshold=0.4)
    sink, washstand, salford = analysis("is", "there", "a", "sink"), analysis("a", "washstand"), analysis("salford")
    assert not unknown_word(washstand, sink, words)  # a near-synonym: the soft rule lets it through
    assert unknown_word(washstand, sink, None)  # the hard rule does not
    assert unknown_word(salford, sink, words)  # a word the other question does not say still refuses
    assert not unknown_word(analysis("the", "sinks"), sink, words)  # another form of the same word



def test_common_words_are_conversation_unless_the_cafe_uses_them(matchers: dict[str, Lexicon]) -> None:
    """A very common English word nobody listed is no unknown thing; one the cafe's own texts use still is."""
    from bot.semantic.entities import common_words, data_words

    cafe2 = matchers["cafe2"]
    assert {"reach", "wondering", "extra", "table"} <= common_words(8000)
    assert "reach" not in cafe2.analyse("how can i reach you by phone").unknown
    assert pair_rule(cafe2.analyse("how can i reach you by phone"), cafe2.analyse("What's your phone number?")) is None
    # "extra" is in cafe2's texts ("no extra charge"): asking whether oat milk is extra is another question.
    from bot.knowledge.loader import load_cafe

    path = ROOT / "bench" / "data" / "cafe2"
    assert "extra" in data_words(load_menu(path / "menu.yaml")[0], load_cafe(path / "cafe.yaml")[0])
    assert pair_rule(cafe2.analyse("is oat milk extra"), cafe2.analyse("Do you have oat milk?")) == Reason.UNKNOWN_WORD
    # A common word of relation is never conversation: "before 7" is not "at 7".
    assert "before" in cafe2.analyse("do you open before 7 on monday").unknown
    # Rare words stay unknown whatever the data says: a place name, "heated".
    assert pair_rule(cafe2.analyse("is the terrace heated"), cafe2.analyse("Do you have outdoor seating?")) \
        == Reason.UNKNOWN_WORD
    # Without the cafe's data there is nothing to keep meaningful words apart: the rule is off.
    bare = Lexicon(load_menu(path / "menu.yaml")[0], None, matching=True)
    assert "reach" in bare.analyse("how can i reach you by phone").unknown
