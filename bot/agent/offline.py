"""Answers from the menu and the cafe's facts alone, with no model.

Used when the model server fails (after the caches) and when no OPENAI_API_KEY is set
(limited mode). It recognises the questions customers ask most: opening hours (a day,
today, tomorrow, the weekend, "are you open now?"), dietary options (vegan, vegetarian,
gluten-free, ...) with prices, a named item's price, description and allergens, a
category's items, Wi-Fi, address, contacts and the cafe's policies. It never guesses:
a question it does not recognise gets None, and the agent apologises instead.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

from bot.knowledge import CafeInfo, Category, Menu, MenuItem
from bot.knowledge.models import WEEKDAYS
from bot.prompts import cafe_now

DIETARY_PHRASES: dict[str, tuple[str, ...]] = {
    "vegan": ("vegan", "plant based", "vegans"),
    "vegetarian": ("vegetarian", "veggie", "meat free", "meatless", "no meat", "without meat", "vegetarians"),
    "gluten-free": ("gluten free", "coeliac", "celiac", "no gluten", "without gluten", "gf"),
    "dairy-free": ("dairy free", "lactose", "no dairy", "without dairy", "no milk", "without milk"),
    "nut-free": ("nut free", "no nuts", "without nuts", "nut allergy"),
    "spicy": ("spicy", "chili", "chilli"),
}
POLICY_PHRASES: dict[str, tuple[str, ...]] = {
    "payment": ("pay", "payment", "card", "cards", "cash", "apple pay", "google pay", "visa", "mastercard", "amex"),
    "reservations": ("reserve", "reservation", "reservations", "book a table", "booking", "table for"),
    "pets": ("dog", "dogs", "pet", "pets", "puppy"),
    "accessibility": ("wheelchair", "accessible", "accessibility", "step free", "disabled", "toilet"),
    "laptops": ("laptop", "laptops", "work from", "remote work", "study"),
    "plant_milk": ("oat milk", "soy milk", "almond milk", "plant milk", "milk alternative", "non dairy milk"),
    "allergens": ("allergy", "allergies", "allergic", "traces", "cross contamination"),
    "takeaway": ("takeaway", "take away", "to go", "own cup", "reusable cup"),
    "pickup_orders": ("pickup", "pick up", "collect", "order ahead"),
    "parking": ("parking", "park my car", "car park", "park"),
    "kids": ("kid", "kids", "children", "child", "high chair", "baby"),
    "outdoor_seating": ("terrace", "outside", "outdoor", "outdoors", "garden"),
}
HOURS_PHRASES = ("open", "opening", "close", "closing", "closed", "hours", "what time", "until when", "how late",
                 "how early", "kitchen")
NOW_PHRASES = ("now", "right now", "at the moment", "currently", "still open", "open yet")
WIFI_PHRASES = ("wifi", "wi fi", "wlan", "internet", "password", "network")
ADDRESS_PHRASES = ("address", "where are you", "where is the cafe", "where is it", "located", "location",
                   "find you", "directions", "how do i get", "how to get")
CONTACT_PHRASES = ("phone", "call you", "telephone", "email", "e mail", "contact", "website")
MENU_PHRASES = ("menu", "what do you have", "what do you serve", "what do you sell", "what can i eat",
                "what can i order", "food", "something to eat", "anything to eat")
# "I'd like to order two flat whites": without the model the order tools cannot run, but the
# buttons can, so the answer says how to order with them instead of describing the item.
ORDER_PHRASES = ("order", "i'd like", "i would like", "i'll have", "i will have", "can i get", "can i have",
                 "could i get", "could i have", "i'll take", "i will take", "i'd love")
QUESTION_PHRASES = ("how much", "price", "cost", "allergen", "allergens", "contain", "contains", "is it", "is the",
                    "does it", "does the", "what is", "what's in")
GREETING_PHRASES = ("hi", "hello", "hey", "good morning", "good afternoon", "good evening", "thanks", "thank you")
_STOPWORDS = {"and", "other", "the", "our", "of", "with", "&"}
_DAY_ALIASES = {d[:3]: d for d in WEEKDAYS} | {"tues": "tuesday", "thur": "thursday", "thurs": "thursday"}


def simplify(text: str) -> str:
    """Lower case, no accents, hyphens and punctuation as spaces: 'Caffè-Latte!' → 'caffe latte'."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).replace("’", "'")
    text = re.sub(r"[^\w\s']+|_", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _has(text: str, phrases: tuple[str, ...] | list[str]) -> bool:
    return any(re.search(rf"\b{re.escape(p)}\b", text) for p in phrases)


class OfflineAnswerer:
    def __init__(self, menu: Callable[[], Menu], cafe: Callable[[], CafeInfo]) -> None:
        self._menu = menu
        self._cafe = cafe

    def answer(self, question: str, now: dt.datetime | None = None) -> str | None:
        """The answer built from data, or None when the question is not one it knows."""
        menu, cafe = self._menu(), self._cafe()
        text = simplify(question)
        if not text:
            return None
        sections: list[str] = []
        items = self.find_items(text, menu)
        tags = [tag for tag, phrases in DIETARY_PHRASES.items() if _has(text, phrases)]
        if items and _has(text, ORDER_PHRASES) and not tags and not _has(text, QUESTION_PHRASES):
            return self.how_to_order(items, menu)
        if items:
            sections += [self.describe(item, menu) for item in items[:5]]
        elif tags:
            sections.append(self.dietary(tags, text, menu))
        if _has(text, HOURS_PHRASES) or (self._days(text) and not items and not tags):
            sections.append(self.hours(text, cafe, now))
        if _has(text, WIFI_PHRASES):
            sections.append(self.wifi(cafe))
        if _has(text, ADDRESS_PHRASES):
            sections.append(f"📍 We're at {cafe.address}.")
        if _has(text, CONTACT_PHRASES):
            sections.append(self.contacts(cafe))
        policy_keys = [key for key in cafe.policies if _has(text, POLICY_PHRASES.get(key, (simplify(key),)))]
        if items or tags:  # "is it gluten free?" is about the item, not the allergen policy
            policy_keys = [k for k in policy_keys if k != "allergens"] + (
                ["allergens"] if "allergens" in cafe.policies and _has(text, ("allergy", "allergic")) else [])
        sections += [cafe.policies[key] for key in dict.fromkeys(policy_keys)]
        if not sections and not items:
            categories = self.find_categories(text, menu)
            if categories:
                sections += [self.category(c, menu) for c in categories]
            elif _has(text, MENU_PHRASES):
                sections.append(self.overview(menu))
        if not sections and _has(text, GREETING_PHRASES) and len(text.split()) <= 4:
            sections.append(f"Hello! Welcome to {cafe.name}. Ask me about the menu, prices, dietary options, "
                            "opening hours, Wi-Fi or where to find us.")
        return "\n\n".join(sections) if sections else None

    # --- menu -----------------------------------------------------------------------
    def find_items(self, text: str, menu: Menu) -> list[MenuItem]:
        """Items named in the text (name, alias or id), longest names first, no overlaps."""
        candidates: list[tuple[str, MenuItem]] = []
        for item in menu.items():
            for name in {item.name, item.id, *item.aliases}:
                phrase = simplify(name)
                if phrase:
                    candidates.append((phrase, item))
        candidates.sort(key=lambda c: len(c[0]), reverse=True)
        found: list[MenuItem] = []
        taken: list[tuple[int, int]] = []
        for phrase, item in candidates:
            for match in re.finditer(rf"\b{re.escape(phrase)}s?\b", text):
                span = match.span()
                if any(span[0] < end and start < span[1] for start, end in taken):
                    continue
                taken.append(span)
                if item not in found:
                    found.append(item)
        order = {item.id: pos for pos, item in enumerate(menu.items())}
        return sorted(found, key=lambda i: order[i.id])

    def how_to_order(self, items: list[MenuItem], menu: Menu) -> str:
        lines = ["I can't take orders in words right now, but ordering with buttons works: open /menu, pick "
                 "the category and the item, tap Add, then check out from your /cart."]
        for item in items[:5]:
            category = menu.category(item.category_id)
            where = f" (in {category.name})" if category else ""
            sold_out = " — sorry, sold out today" if not item.available else ""
            lines.append(f"• {item.name}{where} — {self.price(item, menu)}{sold_out}")
        return "\n".join(lines)

    def describe(self, item: MenuItem, menu: Menu) -> str:
        lines = [f"{item.name} — {self.price(item, menu)}"]
        if item.description:
            lines.append(item.description)
        if item.tags:
            lines.append("Suitable for: " + ", ".join(item.tags) + ".")
        lines.append("Allergens: " + (", ".join(item.allergens) if item.allergens else "none listed") + ".")
        if not item.available:
            lines.append("Sorry, it's sold out today.")
        return "\n".join(lines)

    @staticmethod
    def price(item: MenuItem, menu: Menu) -> str:
        if item.sizes:
            return " / ".join(f"{size} {menu.price(cents)}" for size, cents in item.sizes.items())
        return menu.price(item.min_price_cents)

    def dietary(self, tags: list[str], text: str, menu: Menu) -> str:
        categories = self.find_categories(text, menu)
        allowed = {c.id for c in categories} or {c.id for c in menu.categories}
        matching = [i for i in menu.items() if all(t in i.tags for t in tags) and i.category_id in allowed]
        label = " and ".join(tags)
        if not matching:
            return f"Sorry, we have nothing {label} on the menu right now."
        lines = [f"Our {label} options:"]
        for item in matching:
            note = " (sold out today)" if not item.available else ""
            lines.append(f"• {item.name} — {self.price(item, menu)}{note}")
        return "\n".join(lines)

    def find_categories(self, text: str, menu: Menu) -> list[Category]:
        words = {w.rstrip("s") for w in text.split()}
        found: list[Category] = []
        for category in menu.categories:
            names = {w.rstrip("s") for w in simplify(category.name).split() if w not in _STOPWORDS}
            names |= {w.rstrip("s") for w in simplify(category.id).split() if w not in _STOPWORDS}
            if names & words:
                found.append(category)
        return found

    def category(self, category: Category, menu: Menu) -> str:
        lines = [f"{category.name}:"]
        for item in category.items:
            note = " (sold out today)" if not item.available else ""
            lines.append(f"• {item.name} — {self.price(item, menu)}{note}")
        return "\n".join(lines)

    def overview(self, menu: Menu) -> str:
        lines = ["Here's what's on our menu:"]
        for category in menu.categories:
            cheapest = min(i.min_price_cents for i in category.items)
            examples = ", ".join(i.name for i in category.items[:3])
            lines.append(f"• {category.name} (from {menu.price(cheapest)}): {examples}, …")
        lines.append("Ask me about any category or item for prices and details.")
        return "\n".join(lines)

    # --- cafe facts ------------------------------------------------------------------
    def _days(self, text: str) -> list[str]:
        days: list[str] = []
        for word in text.split():
            day = word if word in WEEKDAYS else _DAY_ALIASES.get(word)
            if day is None and word.endswith("s") and word[:-1] in WEEKDAYS:
                day = word[:-1]  # "on sundays"
            if day and day not in days:
                days.append(day)
        if _has(text, ("weekend", "weekends")):
            days += [d for d in ("saturday", "sunday") if d not in days]
        return days

    def hours(self, text: str, cafe: CafeInfo, now: dt.datetime | None) -> str:
        local = cafe_now(cafe, now)
        today = WEEKDAYS[local.weekday()]
        tomorrow = WEEKDAYS[(local.weekday() + 1) % 7]
        lines: list[str] = []
        if _has(text, NOW_PHRASES):
            lines.append(self._open_now(cafe, local))
        days = self._days(text)
        if _has(text, ("today", "tonight")) and today not in days:
            days.insert(0, today)
        if _has(text, ("tomorrow",)) and tomorrow not in days:
            days.append(tomorrow)
        for day in days:
            label = day.capitalize() + (" (today)" if day == today else " (tomorrow)" if day == tomorrow else "")
            lines.append(f"{label}: {self._span(cafe.hours[day])}")
        if not lines:
            lines.append("Our opening hours:")
            lines += [f"• {day.capitalize()}: {self._span(h)}" for day, h in cafe.hours.items()]
        if cafe.kitchen_closes_before_minutes and _has(text, ("kitchen", "food", "eat", "last order")):
            lines.append(f"The kitchen takes its last food orders {cafe.kitchen_closes_before_minutes} minutes "
                         "before closing.")
        return "\n".join(lines)

    @staticmethod
    def _span(hours: str) -> str:
        return "closed" if hours == "closed" else "open " + hours.replace("-", "–")

    def _open_now(self, cafe: CafeInfo, local: dt.datetime) -> str:
        minute = local.hour * 60 + local.minute
        today = WEEKDAYS[local.weekday()]
        hours = cafe.hours[today]
        if hours != "closed":
            start, end = (self._minutes(p) for p in hours.split("-"))
            if start <= minute < end:
                return f"Yes, we're open right now, until {hours.split('-')[1]}."
            if minute < start:
                return f"We're closed right now; we open today at {hours.split('-')[0]}."
        for offset in range(1, 8):
            day = WEEKDAYS[(local.weekday() + offset) % 7]
            if cafe.hours[day] != "closed":
                when = "tomorrow" if offset == 1 else f"on {day.capitalize()}"
                return f"We're closed right now; we open again {when} at {cafe.hours[day].split('-')[0]}."
        return "We're closed right now."

    @staticmethod
    def _minutes(hhmm: str) -> int:
        hours, minutes = hhmm.split(":")
        return int(hours) * 60 + int(minutes)

    @staticmethod
    def wifi(cafe: CafeInfo) -> str:
        if cafe.wifi is None:
            return "Sorry, we don't offer Wi-Fi."
        text = f"📶 Wi-Fi: network {cafe.wifi.network}"
        if cafe.wifi.password:
            text += f", password {cafe.wifi.password}"
        text += "."
        if cafe.wifi.notes:
            text += f" {cafe.wifi.notes}"
        return text

    @staticmethod
    def contacts(cafe: CafeInfo) -> str:
        parts = [p for p in (f"phone {cafe.phone}" if cafe.phone else "", f"email {cafe.email}" if cafe.email else "",
                             cafe.website) if p]
        return "You can reach us by " + ", ".join(parts) + "." if parts else f"Come by at {cafe.address}."
