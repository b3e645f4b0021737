"""Answers from the menu and the cafe's facts alone, with no model.

Used when the model server fails (after the caches) and when no OPENAI_API_KEY is set
(limited mode). It recognises the questions customers ask most: opening hours (a day,
today, tomorrow, the weekend, "are you open now?"), dietary options (vegan, vegetarian,
gluten-free, ...) with prices, a named item's price, description and allergens, a
category's items, Wi-Fi, address, contacts and the cafe's policies. It never guesses:
a question it does not recognise gets None, and the agent apologises instead.

German questions are recognised too (German keywords lead to the same intents: "Habt ihr
heute offen?", "Was ist vegan?", "WLAN-Passwort?"), and every fixed phrase of an answer is
written in the language of the context (bot.i18n: the customer's), prices and day names included.
The menu's and the cafe's own words (item names, policies) stay as cafe.yaml and menu.yaml write them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

from bot.i18n import _, current_locale, price, weekday_name
from bot.i18n import day as day_format
from bot.knowledge import CafeInfo, Category, Closure, Menu, MenuItem
from bot.knowledge.labels import tag_label
from bot.knowledge.models import WEEKDAYS
from bot.prompts import cafe_now

CLOSURES_AHEAD_DAYS = 14  # closures this close are named with the weekly hours, and skipped to find the next opening

# English, then German (after `simplify`: no umlauts, ß as "ss").
DIETARY_PHRASES: dict[str, tuple[str, ...]] = {
    "vegan": ("vegan", "plant based", "vegans", "vegane", "veganes", "veganer", "veganen", "pflanzlich"),
    "vegetarian": ("vegetarian", "veggie", "meat free", "meatless", "no meat", "without meat", "vegetarians",
                   "vegetarisch", "vegetarische", "vegetarisches", "vegetarischen", "vegetarier", "ohne fleisch",
                   "fleischlos"),
    "gluten-free": ("gluten free", "coeliac", "celiac", "no gluten", "without gluten", "gf", "glutenfrei",
                    "glutenfreie", "glutenfreies", "glutenfreien", "ohne gluten", "zoliakie"),
    "dairy-free": ("dairy free", "lactose", "no dairy", "without dairy", "no milk", "without milk", "laktosefrei",
                   "laktosefreie", "laktosefreies", "milchfrei", "ohne milch", "ohne laktose"),
    "nut-free": ("nut free", "no nuts", "without nuts", "nut allergy", "nussfrei", "ohne nusse", "nussallergie"),
    "spicy": ("spicy", "chili", "chilli", "scharf", "scharfe", "scharfes", "scharfen"),
}

POLICY_PHRASES: dict[str, tuple[str, ...]] = {
    "payment": ("pay", "payment", "card", "cards", "cash", "apple pay", "google pay", "visa", "mastercard", "amex",
                "bezahlen", "zahlen", "kartenzahlung", "bargeld", "bar zahlen", "ec karte"),
    "reservations": ("reserve", "reservation", "reservations", "book a table", "booking", "table for",
                     "reservieren", "reservierung", "tisch reservieren"),
    "pets": ("dog", "dogs", "pet", "pets", "puppy", "hund", "hunde", "haustier", "haustiere"),
    "accessibility": ("wheelchair", "accessible", "accessibility", "step free", "disabled", "toilet",
                      "rollstuhl", "barrierefrei", "toilette"),
    "laptops": ("laptop", "laptops", "work from", "remote work", "study", "arbeiten"),
    "plant_milk": ("oat milk", "soy milk", "almond milk", "plant milk", "milk alternative", "non dairy milk",
                   "hafermilch", "sojamilch", "mandelmilch", "pflanzenmilch"),
    "allergens": ("allergy", "allergies", "allergic", "traces", "cross contamination", "allergie", "allergien",
                  "allergisch", "spuren"),
    "takeaway": ("takeaway", "take away", "to go", "own cup", "reusable cup", "mitnehmen", "zum mitnehmen",
                 "eigener becher", "mehrwegbecher"),
    "pickup_orders": ("pickup", "pick up", "collect", "order ahead", "abholen", "abholung", "vorbestellen"),
    "parking": ("parking", "park my car", "car park", "park", "parken", "parkplatz"),
    "kids": ("kid", "kids", "children", "child", "high chair", "baby", "kinder", "kind", "kinderstuhl", "hochstuhl"),
    "outdoor_seating": ("terrace", "outside", "outdoor", "outdoors", "garden", "terrasse", "draussen", "garten"),
}
HOURS_PHRASES = ("open", "opening", "close", "closing", "closed", "hours", "what time", "until when", "how late",
                 "how early", "kitchen",
                 "offen", "geoffnet", "offnungszeit", "offnungszeiten", "schliesst", "schliessen", "geschlossen",
                 "bis wann", "ab wann", "wie lange", "kuche")
NOW_PHRASES = ("now", "right now", "at the moment", "currently", "still open", "open yet",
               "jetzt", "gerade", "momentan", "im moment", "aktuell", "noch offen")
TODAY_PHRASES = ("today", "tonight", "heute", "heute abend")
WEEKEND_PHRASES = ("weekend", "weekends", "wochenende", "am wochenende")
WIFI_PHRASES = ("wifi", "wi fi", "wlan", "internet", "password", "network", "passwort", "kennwort")
ADDRESS_PHRASES = ("address", "where are you", "where is the cafe", "where is it", "located", "location",
                   "find you", "directions", "how do i get", "how to get",
                   "adresse", "anschrift", "wo seid ihr", "wo sind sie", "wo ist das cafe", "wo finde ich",
                   "anfahrt", "wegbeschreibung", "wie komme ich", "standort")
CONTACT_PHRASES = ("phone", "call you", "telephone", "email", "e mail", "contact", "website",
                   "telefon", "telefonnummer", "anrufen", "kontakt", "webseite")
MENU_PHRASES = ("menu", "what do you have", "what do you serve", "what do you sell", "what can i eat",
                "what can i order", "food", "something to eat", "anything to eat",
                "speisekarte", "karte", "was habt ihr", "was gibt es", "was gibts", "etwas zu essen", "essen")
KITCHEN_PHRASES = ("kitchen", "food", "eat", "last order", "kuche", "essen", "letzte bestellung")
# "I'd like to order two flat whites": without the model the order tools cannot run, but the
# buttons can, so the answer says how to order with them instead of describing the item.
ORDER_PHRASES = ("order", "i'd like", "i would like", "i'll have", "i will have", "can i get", "can i have",
                 "could i get", "could i have", "i'll take", "i will take", "i'd love",
                 "bestellen", "ich hatte gern", "ich hatte gerne", "ich nehme", "ich mochte")
QUESTION_PHRASES = ("how much", "price", "cost", "allergen", "allergens", "contain", "contains", "is it", "is the",
                    "does it", "does the", "what is", "what's in",
                    "wie viel", "wieviel", "was kostet", "kostet", "preis", "allergene", "enthalt", "ist der",
                    "ist die", "ist das", "was ist", "was ist in")
GREETING_PHRASES = ("hi", "hello", "hey", "good morning", "good afternoon", "good evening", "thanks", "thank you",
                    "hallo", "guten tag", "guten morgen", "guten abend", "moin", "servus", "danke", "vielen dank")
_STOPWORDS = {"and", "other", "the", "our", "of", "with", "&", "und"}
_GERMAN_DAYS = {"montag": "monday", "dienstag": "tuesday", "mittwoch": "wednesday", "donnerstag": "thursday",
                "freitag": "friday", "samstag": "saturday", "sonnabend": "saturday", "sonntag": "sunday"}
_DAY_ALIASES = ({d[:3]: d for d in WEEKDAYS} | {"tues": "tuesday", "thur": "thursday", "thurs": "thursday"}
                | _GERMAN_DAYS)


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
            sections.append(_("📍 We're at {address}.").format(address=cafe.address))
        if _has(text, CONTACT_PHRASES):
            sections.append(self.contacts(cafe))
        policy_keys = [key for key in cafe.policies if _has(text, POLICY_PHRASES.get(key, (simplify(key),)))]
        if items or tags:  # "is it gluten free?" is about the item, not the allergen policy
            policy_keys = [k for k in policy_keys if k != "allergens"] + (
                ["allergens"] if "allergens" in cafe.policies and _has(text, ("allergy", "allergic")) else [])
        sections += [cafe.policy_in(key, current_locale()) for key in dict.fromkeys(policy_keys)]
        if not sections and not items:
            categories = self.find_categories(text, menu)
            if categories:
                sections += [self.category(c, menu) for c in categories]
            elif _has(text, MENU_PHRASES):
                sections.append(self.overview(menu))
        if not sections and _has(text, GREETING_PHRASES) and len(text.split()) <= 4:
            sections.append(_("Hello! Welcome to {cafe}. Ask me about the menu, prices, dietary options, "
                              "opening hours, Wi-Fi or where to find us.").format(cafe=cafe.name))
        return "\n\n".join(sections) if sections else None

    # --- menu -----------------------------------------------------------------------
    def find_items(self, text: str, menu: Menu) -> list[MenuItem]:
        """Items named in the text (name, alias or id), longest names first, no overlaps."""
        candidates: list[tuple[str, MenuItem]] = []
        for item in menu.items():
            for name in {item.name, item.id, *item.aliases, *item.names.values()}:
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
        lines = [_("I can't take orders in words right now, but ordering with buttons works: open /menu, pick "
                   "the category and the item, tap Add, then check out from your /cart.")]
        for item in items[:5]:
            category = menu.category(item.category_id)
            where = " " + _("(in {category})").format(category=category.name_in(current_locale())) if category else ""
            sold_out = " — " + _("sorry, sold out today") if not item.available else ""
            lines.append(f"• {item.name_in(current_locale())}{where} — {self.price(item, menu)}{sold_out}")
        return "\n".join(lines)

    def describe(self, item: MenuItem, menu: Menu) -> str:
        lang = current_locale()
        lines = [f"{item.name_in(lang)} — {self.price(item, menu)}"]
        if item.description_in(lang):
            lines.append(item.description_in(lang))
        if item.tags:
            lines.append(_("Suitable for: {tags}.").format(tags=", ".join(self.label(t) for t in item.tags)))
        allergens = ", ".join(item.allergens) if item.allergens else _("none listed")
        lines.append(_("Allergens: {allergens}.").format(allergens=allergens))
        if not item.available:
            lines.append(_("Sorry, it's sold out today."))
        return "\n".join(lines)

    @staticmethod
    def price(item: MenuItem, menu: Menu) -> str:
        if item.sizes:
            return " / ".join(f"{size} {price(cents, menu.currency)}" for size, cents in item.sizes.items())
        return price(item.min_price_cents, menu.currency)

    @staticmethod
    def label(tag: str) -> str:
        """A dietary tag in the reader's language ("vegan", "glutenfrei"); other tags as the menu writes them."""
        return tag_label(tag)

    @staticmethod
    def sold_out_note(item: MenuItem) -> str:
        return " " + _("(sold out today)") if not item.available else ""

    def dietary(self, tags: list[str], text: str, menu: Menu) -> str:
        categories = self.find_categories(text, menu)
        allowed = {c.id for c in categories} or {c.id for c in menu.categories}
        matching = [i for i in menu.items() if all(t in i.tags for t in tags) and i.category_id in allowed]
        label = _(" and ").join(self.label(t) for t in tags)
        if not matching:
            return _("Sorry, we have nothing {label} on the menu right now.").format(label=label)
        lines = [_("Our {label} options:").format(label=label)]
        for item in matching:
            lines.append(f"• {item.name_in(current_locale())} — {self.price(item, menu)}{self.sold_out_note(item)}")
        return "\n".join(lines)

    def find_categories(self, text: str, menu: Menu) -> list[Category]:
        words = {w.rstrip("s") for w in text.split()}
        found: list[Category] = []
        for category in menu.categories:
            names = {w.rstrip("s") for label in (category.name, *category.names.values())
                     for w in simplify(label).split() if w not in _STOPWORDS}
            names |= {w.rstrip("s") for w in simplify(category.id).split() if w not in _STOPWORDS}
            if names & words:
                found.append(category)
        return found

    def category(self, category: Category, menu: Menu) -> str:
        lines = [f"{category.name_in(current_locale())}:"]
        for item in category.items:
            lines.append(f"• {item.name_in(current_locale())} — {self.price(item, menu)}{self.sold_out_note(item)}")
        return "\n".join(lines)

    def overview(self, menu: Menu) -> str:
        lines = [_("Here's what's on our menu:")]
        lang = current_locale()
        for category in menu.categories:
            cheapest = _("from {price}").format(price=price(min(i.min_price_cents for i in category.items),
                                                            menu.currency))
            examples = ", ".join(i.name_in(lang) for i in category.items[:3])
            lines.append(f"• {category.name_in(lang)} ({cheapest}): {examples}, …")
        lines.append(_("Ask me about any category or item for prices and details."))
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
        if _has(text, WEEKEND_PHRASES):
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
        if _has(text, TODAY_PHRASES) and today not in days:
            days.insert(0, today)
        if (_has(text, ("tomorrow",)) or re.search(r"(?<!guten )\bmorgen\b", text)) and tomorrow not in days:
            days.append(tomorrow)
        for day in days:
            label = self.day(day) + (" " + _("(today)") if day == today else " " + _("(tomorrow)")
                                     if day == tomorrow else "")
            # The next such weekday (today counts): its date decides, so a closure that day is said.
            date = local.date() + dt.timedelta(days=(WEEKDAYS.index(day) - local.weekday()) % 7)
            lines.append(f"{label}: {self._span_on(cafe, date)}")
        if not lines:
            lines.append(_("Our opening hours:"))
            lines += [f"• {self.day(day)}: {self._span(h)}" for day, h in cafe.hours.items()]
            ahead = cafe.closures_between(local.date(), local.date() + dt.timedelta(days=CLOSURES_AHEAD_DAYS))
            if ahead:
                lines.append(_("Special days coming up:"))
                lines += [f"• {self._dates(c)}: {self._span(c.hours)} ({c.reason_in(current_locale())})" for c in ahead]
        if cafe.kitchen_closes_before_minutes and _has(text, KITCHEN_PHRASES):
            lines.append(_("The kitchen takes its last food orders {minutes} minutes before closing.").format(
                minutes=cafe.kitchen_closes_before_minutes))
        return "\n".join(lines)

    @staticmethod
    def day(name: str) -> str:
        """'monday' → "Monday" / "Montag"."""
        return weekday_name(WEEKDAYS.index(name))

    @staticmethod
    def _span(hours: str) -> str:
        return _("closed") if hours == "closed" else _("open {hours}").format(hours=hours.replace("-", "–"))

    def _span_on(self, cafe: CafeInfo, date: dt.date) -> str:
        """A date's hours, with the reason when a closure or special day changes them."""
        hours = cafe.hours_on(date, current_locale())
        span = self._span(hours.hours)
        return f"{span} ({hours.reason})" if hours.reason else span

    @staticmethod
    def _dates(closure: Closure) -> str:
        if closure.until is None or closure.until == closure.date:
            return day_format(closure.date)
        return f"{day_format(closure.date)} – {day_format(closure.until)}"

    def _open_now(self, cafe: CafeInfo, local: dt.datetime) -> str:
        minute = local.hour * 60 + local.minute
        today = cafe.hours_on(local.date(), current_locale())
        if not today.closed:
            start, end = (self._minutes(p) for p in today.hours.split("-"))
            if start <= minute < end:
                return _("Yes, we're open right now, until {time}.").format(time=today.hours.split("-")[1])
            if minute < start:
                return _("We're closed right now; we open today at {time}.").format(time=today.hours.split("-")[0])
        closed = _("We're closed today ({reason}).").format(reason=today.reason) + " " if (
            today.closed and today.reason) else ""
        for offset in range(1, CLOSURES_AHEAD_DAYS + 1):
            date = local.date() + dt.timedelta(days=offset)
            hours = cafe.hours_on(date)
            if not hours.closed:
                opens = hours.hours.split("-")[0]
                if offset == 1:
                    return closed + _("We're closed right now; we open again tomorrow at {time}.").format(time=opens)
                if offset < 7:
                    return closed + _("We're closed right now; we open again on {day} at {time}.").format(
                        day=self.day(WEEKDAYS[date.weekday()]), time=opens)
                return closed + _("We're closed right now; we open again on {date} at {time}.").format(
                    date=day_format(date), time=opens)
        return closed + _("We're closed right now.")

    @staticmethod
    def _minutes(hhmm: str) -> int:
        hours, minutes = hhmm.split(":")
        return int(hours) * 60 + int(minutes)

    @staticmethod
    def wifi(cafe: CafeInfo) -> str:
        if cafe.wifi is None:
            return _("Sorry, we don't offer Wi-Fi.")
        text = _("📶 Wi-Fi: network {network}").format(network=cafe.wifi.network)
        if cafe.wifi.password:
            text += ", " + _("password {password}").format(password=cafe.wifi.password)
        text += "."
        if cafe.wifi.notes:
            text += f" {cafe.wifi.notes_in(current_locale())}"
        return text

    @staticmethod
    def contacts(cafe: CafeInfo) -> str:
        parts = [p for p in (_("phone {phone}").format(phone=cafe.phone) if cafe.phone else "",
                             _("email {email}").format(email=cafe.email) if cafe.email else "", cafe.website) if p]
        if not parts:
            return _("Come by at {address}.").format(address=cafe.address)
        return _("You can reach us by {ways}.").format(ways=", ".join(parts))
