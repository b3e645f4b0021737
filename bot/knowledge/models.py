"""The cafe's menu and facts as typed data (validated from YAML).

Prices are integer minor units (cents) everywhere in the program; YAML holds decimals
because that is how people write prices.
"""

from __future__ import annotations

import re
from datetime import date as Date
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DIETARY_TAGS = ("vegan", "vegetarian", "gluten-free", "dairy-free", "nut-free", "spicy")
ALLERGENS = (
    "gluten", "crustaceans", "eggs", "fish", "peanuts", "soy", "milk", "nuts", "celery",
    "mustard", "sesame", "sulphites", "lupin", "molluscs",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Ids and size names travel inside the ordering buttons' callback data (handlers/orders/callbacks.py),
# which Telegram caps at 64 bytes and which aiogram packs with ':' between the fields. The longest
# callback built from them is "om:item:<id>:<size>:<qty>": 8 + 32 + 1 + 16 + 1 + 2 = 60 bytes
# (tests/test_knowledge.py packs it with the real classes). Checked when the menu is loaded, so a
# bad file is reported with its line instead of /menu breaking when the button is built.
ID_CHARS = r"[a-z0-9][a-z0-9-]*"  # ASCII only: one byte per character
SIZE_CHARS = r"[a-z0-9][a-z0-9 -]*"
MAX_ID_CHARS = 32
MAX_SIZE_CHARS = 16
_ID_RE = re.compile(rf"^{ID_CHARS}$")
_SIZE_RE = re.compile(rf"^{SIZE_CHARS}$")
# An item's option choices travel as a bit mask (one bit per choice, in menu order) in the options page's
# buttons (handlers/orders/callbacks.py OptionsCb), next to the item id: 32 choices are 8 hex digits.
MAX_OPTION_CHOICES = 32
MAX_SIZES_WITH_OPTIONS = 10  # the options page's buttons carry the size as one digit
_HOURS = re.compile(r"^(closed|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d)$")

DietaryTag = Literal["vegan", "vegetarian", "gluten-free", "dairy-free", "nut-free", "spicy"]
Allergen = Literal[
    "gluten", "crustaceans", "eggs", "fish", "peanuts", "soy", "milk", "nuts", "celery",
    "mustard", "sesame", "sulphites", "lupin", "molluscs",
]


def to_cents(value: object) -> int:
    """3.2, "3.20" or 3 → 320; rejects negatives and fractions of a cent."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("must be a price like 3.20") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError("must be a non-negative price with at most 2 decimals")
    return int(amount * 100)


def format_price(cents: int, currency: str = "EUR") -> str:
    symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency)
    amount = f"{cents / 100:.2f}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _button_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(f"{value!r}: use lowercase letters, digits and '-' (ids travel in button data, "
                         "which cannot carry ':', spaces or other characters)")
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"{value!r} is {len(value)} characters; at most {MAX_ID_CHARS} fit in a button's data "
                         "(Telegram allows 64 bytes)")
    return value


def _button_size(name: object) -> str:
    size = str(name).strip().lower()
    if not _SIZE_RE.match(size):
        raise ValueError(f"size {name!r}: use letters, digits, spaces and '-' (size names travel in button data, "
                         "which cannot carry ':' or other characters)")
    if len(size) > MAX_SIZE_CHARS:
        raise ValueError(f"size {name!r} is {len(size)} characters; at most {MAX_SIZE_CHARS} fit in a button's "
                         "data (Telegram allows 64 bytes)")
    return size


DEFAULT_LANGUAGE = "en"  # the language of a plain `name:`; translations are optional (bot.i18n)
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")


def split_translations(data: object, fields: tuple[str, ...]) -> object:
    """`name: {en: Flat White, de: ...}` → `name: Flat White` plus `names: {de: ...}` (and so for each field).

    A plain string stays what it always was (the default language), so every existing menu loads
    unchanged. A mapping must give the default language (the fallback of every other) and use
    language codes as keys.
    """
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name in fields:
        value = out.get(name)
        if isinstance(value, dict):
            out[name], out[translations_field(name)] = split_text(name, value)
    return out


def split_text(name: str, value: dict[object, object]) -> tuple[object, dict[str, object]]:
    """One `{en: ..., de: ...}` mapping → (the default language's text, the other languages' texts)."""
    texts = {str(k).strip().lower(): v for k, v in value.items()}
    bad = [k for k in texts if not _LANGUAGE_RE.match(k)]
    if bad:
        raise ValueError(f"{name}: {bad[0]!r} is not a language code (use e.g. en, de)")
    if not isinstance(texts.get(DEFAULT_LANGUAGE), str):
        raise ValueError(f"{name}: give the text in {DEFAULT_LANGUAGE!r}, the default language")
    return texts.pop(DEFAULT_LANGUAGE), texts


def translations_field(name: str) -> str:
    """Where a field's other languages go: `name` → `names`, `notes` → `notes_i18n` (no clash with a plural)."""
    return f"{name}_i18n" if name.endswith("s") else f"{name}s"


def in_language(default: str, translations: dict[str, str], language: str) -> str:
    """The text in `language` (a catalogue code such as "de"), else the default language's."""
    return translations.get(language) or default


class Translated(_Strict):
    """A menu entry with a button-safe id whose name (and description) may carry translations:
    `name_in("de")` falls back to `name`."""

    translated: ClassVar[tuple[str, ...]] = ("name",)  # the fields that may be `{en: ..., de: ...}`

    id: str
    name: str = Field(min_length=1)
    names: dict[str, str] = Field(default_factory=dict)  # language → name, other than the default

    @model_validator(mode="before")
    @classmethod
    def _translations(cls, data: object) -> object:
        return split_translations(data, cls.translated)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _button_id(value)

    def name_in(self, language: str) -> str:
        return in_language(self.name, self.names, language)


def _id_list(value: object) -> object:
    """`default: oat` or `default: [oat, soy]`: a group's default choices as a tuple of ids."""
    if isinstance(value, str):
        return (value,)
    return value


class OptionChoice(Translated):
    """One choice of an option group: its id, its (translatable) name and what it adds to the price."""

    price_cents: int = Field(default=0, alias="price")  # added to the item's (size's) price; 0 = free

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("price_cents", mode="before")
    @classmethod
    def _price(cls, value: object) -> object:
        return to_cents(value)


class OptionGroup(Translated):
    """A choice the customer makes for an item (milk, an extra shot): `min`..`max` of its choices.

    `required: true` means at least one (`min: 1`). `default` names the choice(s) made when the
    customer says nothing: the item as its description has it, so labels do not repeat them. A
    required group without a default must be chosen by the customer before the item goes into the cart.
    """

    required: bool = False
    min_choices: int = Field(default=0, ge=0, alias="min")
    max_choices: int = Field(default=1, ge=1, alias="max")
    choices: tuple[OptionChoice, ...] = Field(min_length=1)
    default: tuple[str, ...] = ()  # after `choices`: checked against them

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _required(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("required") is True and "min" not in data and "min_choices" not in data:
            data = {**data, "min": 1}  # required: at least one
        return data

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: object, info: ValidationInfo) -> object:
        ids = [c.id for c in info.data.get("choices", ())]
        defaults = _id_list(value)
        unknown = [d for d in defaults if d not in ids] if isinstance(defaults, tuple) and ids else []
        if unknown:
            raise ValueError(f"default {unknown[0]!r} is not one of the choices ({', '.join(ids)})")
        return defaults

    @model_validator(mode="after")
    def _consistent(self) -> OptionGroup:
        ids = [c.id for c in self.choices]
        twice = next((i for i in ids if ids.count(i) > 1), None)
        if twice is not None:
            raise ValueError(f"choice {twice!r} appears twice")
        if self.min_choices > self.max_choices:
            raise ValueError(f"min {self.min_choices} is more than max {self.max_choices}")
        if self.max_choices > len(ids):
            raise ValueError(f"max {self.max_choices}, but only {len(ids)} choice(s)")
        if self.required and self.min_choices == 0:
            raise ValueError("required, but min is 0 (leave min out, or make it 1 or more)")
        if self.default and not self.min_choices <= len(set(self.default)) <= self.max_choices:
            raise ValueError(f"{len(set(self.default))} default choice(s), but the group takes "
                             f"{self.min_choices} to {self.max_choices}")
        return self

    @property
    def is_required(self) -> bool:
        return self.min_choices > 0

    def choice(self, choice_id: str) -> OptionChoice | None:
        return next((c for c in self.choices if c.id == choice_id), None)


class MenuItem(Translated):
    translated: ClassVar[tuple[str, ...]] = ("name", "description")

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    descriptions: dict[str, str] = Field(default_factory=dict)  # language → description
    price_cents: int | None = Field(default=None, alias="price")
    sizes: dict[str, int] = Field(default_factory=dict)  # size name → cents, in menu order
    tags: tuple[DietaryTag, ...] = ()
    allergens: tuple[Allergen, ...] = ()
    available: bool = True
    aliases: tuple[str, ...] = ()
    options: tuple[OptionGroup, ...] = ()  # choice groups (milk, extra shot) with their price deltas
    category_id: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def description_in(self, language: str) -> str:
        return in_language(self.description, self.descriptions, language)

    @field_validator("price_cents", mode="before")
    @classmethod
    def _price(cls, value: object) -> object:
        return None if value is None else to_cents(value)

    @field_validator("sizes", mode="before")
    @classmethod
    def _sizes(cls, value: object) -> object:
        if isinstance(value, dict):
            return {_button_size(k): to_cents(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_price(self) -> MenuItem:
        if (self.price_cents is None) == (not self.sizes):
            raise ValueError("give either price or sizes (not both, not neither)")
        return self

    @model_validator(mode="after")
    def _options_fit(self) -> MenuItem:
        if not self.options:
            return self
        groups = [g.id for g in self.options]
        twice = next((g for g in groups if groups.count(g) > 1), None)
        if twice is not None:
            raise ValueError(f"item {self.id!r}: option group {twice!r} appears twice")
        count = len(self.option_choices())
        if count > MAX_OPTION_CHOICES:
            raise ValueError(f"item {self.id!r} has {count} option choices; at most {MAX_OPTION_CHOICES} fit in "
                             "its buttons' data (Telegram allows 64 bytes)")
        if len(self.sizes) > MAX_SIZES_WITH_OPTIONS:
            raise ValueError(f"item {self.id!r} has options and {len(self.sizes)} sizes; at most "
                             f"{MAX_SIZES_WITH_OPTIONS} sizes fit in its buttons' data")
        return self

    def option_choices(self) -> list[tuple[OptionGroup, OptionChoice]]:
        """Every (group, choice) of the item in menu order: the order the options page's bit mask follows."""
        return [(group, choice) for group in self.options for choice in group.choices]

    def option_group(self, group_id: str) -> OptionGroup | None:
        return next((g for g in self.options if g.id == group_id), None)

    @property
    def min_price_cents(self) -> int:
        return self.price_cents if self.price_cents is not None else min(self.sizes.values())

    def price_for(self, size: str | None) -> int | None:
        """Price of one unit in the given size; None if the size does not exist for this item."""
        if not self.sizes:
            return self.price_cents if size in (None, "", "regular") else None
        if size in (None, ""):
            return next(iter(self.sizes.values()))
        return self.sizes.get(size.lower())

    @property
    def default_size(self) -> str | None:
        return next(iter(self.sizes), None)


class Category(Translated):
    items: tuple[MenuItem, ...] = Field(min_length=1)


class Menu(_Strict):
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    categories: tuple[Category, ...] = Field(min_length=1)
    version: str = ""  # content hash, set by the loader
    overrides: str = ""  # the staff's availability overrides in force ('' for none): see with_availability

    @model_validator(mode="after")
    def _unique_ids(self) -> Menu:
        seen: set[str] = set()
        for category in self.categories:
            for item in category.items:
                if item.id in seen:
                    raise ValueError(f"duplicate item id {item.id!r}")
                seen.add(item.id)
        return self

    def with_availability(self, overrides: dict[str, bool]) -> Menu:
        """The menu with items marked sold out (False) or back (True) by staff, over what the file says.

        `version` stays the file's (orders and the semantic index are tied to it); `overrides`
        names the overlay, so whatever is rendered from the menu (the model's prompt) is redone.
        """
        known = {k: v for k, v in sorted(overrides.items()) if self.item(k) is not None}
        if not known:
            return self

        def overlay(category: Category) -> Category:
            items = tuple(i.model_copy(update={"available": known.get(i.id, i.available)}) for i in category.items)
            return category.model_copy(update={"items": items})

        label = ",".join(f"{k}={int(v)}" for k, v in known.items())
        return self.model_copy(update={"categories": tuple(overlay(c) for c in self.categories), "overrides": label})

    def items(self) -> list[MenuItem]:
        return [item.model_copy(update={"category_id": c.id}) for c in self.categories for item in c.items]

    def item(self, item_id: str) -> MenuItem | None:
        return next((i for i in self.items() if i.id == item_id), None)

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def price(self, cents: int) -> str:
        return format_price(cents, self.currency)


class Wifi(_Strict):
    network: str
    password: str = ""
    notes: str = ""
    notes_i18n: dict[str, str] = Field(default_factory=dict)  # language → notes

    @model_validator(mode="before")
    @classmethod
    def _translations(cls, data: object) -> object:
        return split_translations(data, ("notes",))

    def notes_in(self, language: str) -> str:
        return in_language(self.notes, self.notes_i18n, language)


class DayHours(NamedTuple):
    """The hours in force on one date: "closed" or "HH:MM-HH:MM", and why when they differ from the week's."""

    hours: str
    reason: str = ""  # '' on an ordinary day; a closure's or special day's reason otherwise

    @property
    def closed(self) -> bool:
        return self.hours == "closed"


class Closure(_Strict):
    """A date (or a range, `until` inclusive) with other hours than the week's: a holiday, an event, a repair."""

    date: Date
    until: Date | None = None
    hours: str = "closed"
    reason: str = Field(min_length=1, max_length=120)
    reasons: dict[str, str] = Field(default_factory=dict)  # language → reason, other than the default

    @model_validator(mode="before")
    @classmethod
    def _translations(cls, data: object) -> object:
        return split_translations(data, ("reason",))

    def reason_in(self, language: str) -> str:
        return in_language(self.reason, self.reasons, language)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        cleaned = value.strip().lower()
        if not _HOURS.match(cleaned):
            raise ValueError("hours must look like 07:30-18:00 or 'closed'")
        return cleaned

    @model_validator(mode="after")
    def _range(self) -> Closure:
        if self.until is not None and self.until < self.date:
            raise ValueError(f"until {self.until} is before date {self.date}")
        return self

    @property
    def last(self) -> Date:
        return self.until or self.date

    def covers(self, day: Date) -> bool:
        return self.date <= day <= self.last


class CafeInfo(_Strict):
    name: str
    tagline: str = ""
    taglines: dict[str, str] = Field(default_factory=dict)  # language → tagline, other than the default
    timezone: str = "UTC"
    address: str
    phone: str = ""
    email: str = ""
    website: str = ""
    hours: dict[str, str]
    kitchen_closes_before_minutes: int = Field(default=0, ge=0)
    wifi: Wifi | None = None
    policies: dict[str, str] = Field(default_factory=dict)
    policies_i18n: dict[str, dict[str, str]] = Field(default_factory=dict)  # policy → language → text
    closures: tuple[Closure, ...] = ()  # dates with other hours (or none), each with its reason
    version: str = ""

    @model_validator(mode="before")
    @classmethod
    def _translations(cls, data: object) -> object:
        """`tagline` and each policy may be `{en: ..., de: ...}` like a menu name; English stays the default."""
        data = split_translations(data, ("tagline",))
        if not isinstance(data, dict) or not isinstance(data.get("policies"), dict):
            return data
        policies: dict[object, object] = {}
        translated: dict[object, object] = {}
        for key, text in data["policies"].items():
            if isinstance(text, dict):
                policies[key], translated[key] = split_text(f"policies.{key}", text)
            else:
                policies[key] = text
        return {**data, "policies": policies, "policies_i18n": translated}

    def tagline_in(self, language: str) -> str:
        return in_language(self.tagline, self.taglines, language)

    def policy_in(self, key: str, language: str) -> str:
        """A policy's text in `language` (falling back to the default language's)."""
        return in_language(self.policies[key], self.policies_i18n.get(key, {}), language)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        normalised = {k.lower(): v.strip().lower() for k, v in value.items()}
        for day in normalised:
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}")
        missing = [d for d in WEEKDAYS if d not in normalised]
        if missing:
            raise ValueError(f"missing opening hours for {', '.join(missing)}")
        for day, hours in normalised.items():
            if not _HOURS.match(hours):
                raise ValueError(f"{day}: hours must look like 07:30-18:00 or 'closed'")
        return {d: normalised[d] for d in WEEKDAYS}

    @field_validator("closures")
    @classmethod
    def _closures(cls, value: tuple[Closure, ...]) -> tuple[Closure, ...]:
        ordered = sorted(value, key=lambda c: c.date)
        for before, after in pairwise(ordered):
            if after.date <= before.last:
                raise ValueError(f"{after.date} overlaps the closure from {before.date} ({before.reason})")
        return tuple(ordered)

    def hours_on(self, day: Date, language: str = DEFAULT_LANGUAGE) -> DayHours:
        """The one answer to "what are the hours on this date": a closure or special day, else the weekday's.

        Opening now, pickup times, checkout, the offline answers and the model's clock line all ask this;
        the reason comes in `language` when the file translates it.
        """
        for closure in self.closures:
            if closure.covers(day):
                return DayHours(closure.hours, closure.reason_in(language))
        return DayHours(self.hours[WEEKDAYS[day.weekday()]])

    def closures_between(self, first: Date, last: Date) -> list[Closure]:
        """The closures and special days that touch [first, last] (what is worth mentioning ahead)."""
        return [c for c in self.closures if c.date <= last and c.last >= first]


def answers_version(menu: Any, cafe: Any) -> str:
    """What a cached answer was made from: the menu and the cafe's facts (hours, policies).

    Both answer caches key their entries by it, so an edit to either file (closing an hour
    earlier, a new dog policy) retires every answer written before it.
    """
    return f"{getattr(menu, 'version', '') or ''}.{getattr(cafe, 'version', '') or ''}"
