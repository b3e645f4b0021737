"""What the simulated customers say and do, and how often.

A customer's next step is drawn from `ACTIONS` (weights below). Frequent questions follow a
Zipf law over `FREQUENT` intents, and each is asked either in its usual words (an exact
repeat for the exact cache) or in one of its paraphrases (for the semantic cache). The long
tail combines menu items with templates, so it mostly reaches the model. After an answer a
customer may follow up ("and is it vegan?"), which leans on the conversation and is never
served from a shared cache. Orders go by buttons (/menu → category → item → add →
checkout → as soon as possible → skip note → confirm) or in plain words (the fake model
calls the order tools). Bad input and floods are a small share of the mix.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# (usual words, paraphrases...) — the first is what most people type.
FREQUENT: list[tuple[str, ...]] = [
    ("Do you have anything vegan?", "What vegan options do you have?", "Which dishes are vegan?",
     "Any vegan food on the menu?"),
    ("What's the wifi password?", "What is the password for the wifi?", "How do I get on your wifi?"),
    ("When are you open on Sunday?", "What are your opening hours on Sundays?", "What time do you open on Sunday?"),
    ("How much is a flat white?", "What does a flat white cost?", "What's the price of a flat white?"),
    ("Where are you located?", "What's your address?", "Where is the cafe?"),
    ("Can I bring my dog?", "Are dogs allowed inside?", "Is the cafe dog friendly?"),
    ("Do you take cards?", "Can I pay by card?", "Do you accept credit cards?"),
    ("What gluten-free cakes are there?", "Do you have gluten free cakes?", "Which cakes are gluten-free?"),
    ("Do you have oat milk?", "Can I get oat milk in my coffee?", "Is there plant milk for coffee?"),
    ("How much is a large cappuccino?", "What's the price of a large cappuccino?",
     "What does a large cappuccino cost?"),
    ("Is the lentil soup vegan?", "Is the red lentil soup vegan?", "Does the lentil soup have animal products?"),
    ("Is the carrot cake nut free?", "Does the carrot cake contain nuts?", "Are there nuts in the carrot cake?"),
    ("What's in the club sandwich?", "What does the club sandwich come with?", "What is on the club sandwich?"),
    ("What time do you close on Saturday?", "When do you close on Saturdays?",
     "How late are you open on Saturday?"),
    ("Do you serve breakfast all day?", "Can I get breakfast in the afternoon?", "Is breakfast served all day?"),
    ("Which drinks are dairy-free?", "Do you have dairy free drinks?", "What can I drink if I avoid dairy?"),
    ("Do you have high chairs for kids?", "Is there a kids menu?", "Are children welcome?"),
    ("Is there parking nearby?", "Where can I park?", "Do you have a car park?"),
    ("How much is the chocolate croissant?", "What does the pain au chocolat cost?",
     "Price of a chocolate croissant?"),
    ("Can I book a table?", "Do you take reservations?", "Can I reserve a table for a group?"),
]
PARAPHRASE_SHARE = 0.45  # of frequent questions asked in other words than the usual ones
# People wrap a paraphrase in their own words, so the same paraphrase rarely repeats verbatim
# (the exact cache would take it otherwise, and the semantic cache would never be measured).
OPENERS = ["", "", "Hi, ", "Hello! ", "Quick question: ", "Hey, ", "Excuse me, ", "Sorry to bother you, "]
CLOSERS = ["", "", " Thanks!", " Thank you.", " Cheers", " Many thanks!"]

TIME_SENSITIVE = [
    "Are you open now?", "Is the kitchen still open?", "What's the soup today?", "Are you open tomorrow morning?",
    "Can I still get breakfast right now?",
]
FOLLOW_UPS = [
    "And is it vegan?", "What about the large one?", "How much is that?", "Does it have nuts?",
    "ok and is that gluten free?", "And what else would you recommend with it?",
]
FOLLOW_UP_SHARE = 0.3  # of answered questions that get a follow-up
LONG_TAIL_TEMPLATES = [
    "Does the {item} contain {allergen}?", "Can I have the {item} without {allergen}?",
    "Is the {item} suitable if I'm {diet}?", "What goes well with the {item}?",
    "How big is the {item}?", "Is the {item} made in house?", "Can I get the {item} to take away?",
    "What's the difference between the {item} and the {other}?",
]
ALLERGENS = ["milk", "gluten", "eggs", "nuts", "soy", "sesame", "celery", "fish"]
DIETS = ["vegan", "vegetarian", "lactose intolerant", "avoiding gluten", "allergic to nuts", "pregnant"]
# Items whose plain name resolves to exactly one menu item and that need no size.
ORDER_WORDS = ["flat whites", "espressos", "cortados", "butter croissants", "blueberry muffins", "vegan brownies"]
ORDER_CONFIRM = "That's all, I'll pick it up as soon as possible."

WHITESPACE = "   \n  "
ZERO_WIDTH = "\u200b\u200b"
LONG_MESSAGE_CHARS = 10_000
FLOOD_MESSAGES = 15
FLOOD_GAP_SECONDS = 0.03

# action -> weight (relative). Bad input is split by kind in BAD_INPUT.
ACTIONS: dict[str, float] = {
    "frequent": 0.49,
    "long_tail": 0.16,
    "time_sensitive": 0.05,
    "voice": 0.08,
    "order_buttons": 0.05,  # with order_words about one order per customer every three minutes
    "order_words": 0.03,
    "bad_input": 0.09,
    "flood": 0.015,
    "start": 0.025,
}
BAD_INPUT = ["whitespace", "zero_width", "long", "photo", "sticker", "location", "pdf", "forged_callback",
             "stale_checkout", "unknown_command", "silent_voice", "corrupt_voice"]
FORGED_CALLBACKS = [
    "garbage", "oa:caviar-blini::1", "oa:espresso::500", "om:item:no-such-item::1", "oc:rm:999999",
    "ok:confirm:AAAAAAAAAAAA:", "os:1:completed:0", "x" * 64,
]


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1 / (rank ** s) for rank in range(1, n + 1)]


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    kind: str  # frequent | paraphrase | long_tail | time_sensitive | follow_up | order_words
    intent: int | None = None  # index into FREQUENT


class Workload:
    """Draws a customer's next step and its words; one per customer, seeded for repeatable runs."""

    def __init__(self, rng: random.Random, item_names: list[str]) -> None:
        self.rng = rng
        self.item_names = item_names
        self._frequent_weights = zipf_weights(len(FREQUENT))
        self._actions = list(ACTIONS)
        self._action_weights = list(ACTIONS.values())

    def action(self) -> str:
        return self.rng.choices(self._actions, self._action_weights)[0]

    def frequent(self) -> Question:
        intent = self.rng.choices(range(len(FREQUENT)), self._frequent_weights)[0]
        phrasings = FREQUENT[intent]
        if self.rng.random() < PARAPHRASE_SHARE:
            words = self.rng.choice(phrasings[1:])
            opener, closer = self.rng.choice(OPENERS), self.rng.choice(CLOSERS)
            if opener:
                words = words[0].lower() + words[1:]
            return Question(f"{opener}{words}{closer}", "paraphrase", intent)
        return Question(phrasings[0], "frequent", intent)

    def long_tail(self) -> Question:
        item, other = self.rng.sample(self.item_names, 2)
        template = self.rng.choice(LONG_TAIL_TEMPLATES)
        text = template.format(item=item, other=other, allergen=self.rng.choice(ALLERGENS),
                               diet=self.rng.choice(DIETS))
        return Question(text, "long_tail")

    def time_sensitive(self) -> Question:
        return Question(self.rng.choice(TIME_SENSITIVE), "time_sensitive")

    def follow_up(self) -> Question | None:
        if self.rng.random() >= FOLLOW_UP_SHARE:
            return None
        return Question(self.rng.choice(FOLLOW_UPS), "follow_up")

    def order_words(self) -> Question:
        return Question(f"I'd like to order {self.rng.randint(1, 3)} {self.rng.choice(ORDER_WORDS)} please",
                        "order_words")

    def bad_input(self) -> str:
        return self.rng.choice(BAD_INPUT)

    def think_seconds(self) -> float:
        """Pause between two messages of one customer (reading the answer, typing the next)."""
        return self.rng.uniform(4.0, 10.0)

    def press_seconds(self) -> float:
        """Pause between two button presses."""
        return self.rng.uniform(0.5, 2.0)
