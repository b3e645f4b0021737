"""An item's options (milk, an extra shot): what the customer chose, checked against the menu, priced and keyed.

Buttons, the agent's tools, the cart read back from the database and "Repeat" all hand in a selection
as (group id, choice id) pairs; `choose` turns it into the item's complete choice — each group within its
min..max, defaults filled in, in menu order — or refuses with a sentence naming the item, the group and
what may be chosen. The cart stores the choice as a key ("milk=oat;shot=extra-shot"), so one item with
different options is a different cart line, and re-checks it against the menu in force on every read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.i18n import _, current_locale, price
from bot.knowledge import MenuItem, OptionChoice, OptionGroup
from bot.orders.models import ChosenOption, OrderError

Pair = tuple[str, str]  # (group id, choice id)
_WORD = re.compile(r"[^\W_]+")


def choice_label(choice: OptionChoice, currency: str, language: str | None = None) -> str:
    """"Oat milk +€0.40" (a free choice: its name alone), in the reader's language."""
    name = choice.name_in(language or current_locale())
    return f"{name} +{price(choice.price_cents, currency)}" if choice.price_cents else name


def group_summary(group: OptionGroup, currency: str) -> str:
    """"Milk: Dairy milk, Oat milk +€0.40, Soy milk +€0.40": what a refusal offers instead."""
    choices = ", ".join(choice_label(c, currency) for c in group.choices)
    return f"{group.name_in(current_locale())}: {choices}"


def _item_name(item: MenuItem) -> str:
    return item.name_in(current_locale())


def choose(item: MenuItem, wanted: Iterable[Pair], currency: str, *, complete: bool = True) -> tuple[ChosenOption, ...]:
    """The item's options for the pairs given; OrderError for an unknown choice or a group over its max.

    `complete`: also fill each group left empty with its default and refuse a required group still
    empty (adding to the cart). Without it (the options page while the customer is still choosing),
    empty groups stay empty.
    """
    picked: dict[str, list[str]] = {}
    for group_id, choice_id in wanted:
        group = item.option_group(group_id)
        if group is None or group.choice(choice_id) is None:
            raise OrderError(_("{item} has no option “{option}”.").format(item=_item_name(item), option=choice_id)
                             + " " + offered(item, currency))
        if choice_id not in picked.setdefault(group_id, []):
            picked[group_id].append(choice_id)
    chosen: list[ChosenOption] = []
    for group in item.options:
        ids = picked.get(group.id, [])
        if len(ids) > group.max_choices:
            raise OrderError(_("{item}: choose at most {most} for {group} ({choices}).").format(
                item=_item_name(item), most=group.max_choices, group=group.name_in(current_locale()),
                choices=", ".join(choice_label(c, currency) for c in group.choices)))
        if complete and not ids:
            ids = list(group.default)
        if complete and len(ids) < group.min_choices:
            raise OrderError(_("Please choose {group} for {item}: {choices}.").format(
                group=group.name_in(current_locale()), item=_item_name(item),
                choices=", ".join(choice_label(c, currency) for c in group.choices)))
        for choice in group.choices:  # menu order, whatever order they were given in
            if choice.id in ids:
                chosen.append(ChosenOption(group=group.id, choice=choice.id, name=choice.name,
                                           price_cents=choice.price_cents, default=choice.id in group.default))
    return tuple(chosen)


def offered(item: MenuItem, currency: str) -> str:
    """"Options: Milk: Dairy milk, Oat milk +€0.40; Extra shot: Extra shot +€0.60." (or that it has none)."""
    if not item.options:
        return _("{item} has no options.").format(item=_item_name(item))
    return _("Options: {groups}.").format(groups="; ".join(group_summary(g, currency) for g in item.options))


def key(options: Iterable[ChosenOption]) -> str:
    """How a cart line stores its options: "milk=oat;shot=extra-shot" ('' for none)."""
    return ";".join(f"{o.group}={o.choice}" for o in options)


def parse_key(text: str) -> list[Pair]:
    """The pairs of a stored key; a malformed part is kept as given, so `choose` refuses it."""
    pairs: list[Pair] = []
    for part in filter(None, text.split(";")):
        group, _sep, choice = part.partition("=")
        pairs.append((group, choice))
    return pairs


def pairs_of(options: Iterable[ChosenOption], *, explicit_only: bool = False) -> list[Pair]:
    """The (group, choice) pairs of chosen options; `explicit_only` leaves out the defaults (Repeat: today's apply)."""
    return [(o.group, o.choice) for o in options if not (explicit_only and o.default)]


def extra_cents(options: Iterable[ChosenOption]) -> int:
    return sum(o.price_cents for o in options)


def shown(options: Iterable[ChosenOption]) -> list[ChosenOption]:
    """The options worth printing: a default is the item as described, so it is left out."""
    return [o for o in options if not o.default]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold().replace("-", " ")))


def match(item: MenuItem, refs: Iterable[str], currency: str) -> list[Pair]:
    """The agent's words for options ("oat", "oat milk", "Hafermilch", "milk=oat", "extra shot") as pairs.

    An exact id or name (any language) wins; otherwise a choice whose id or name is all in the words
    ("with oat milk please"). Nothing, or several choices, is refused with the item's options listed.
    """
    pairs: list[Pair] = []
    every = item.option_choices()
    for raw in refs:
        ref = str(raw).strip()
        if not ref:
            continue
        folded = ref.casefold()
        group_ref, sep, choice_ref = folded.partition("=") if "=" in folded else folded.partition(":")
        exact = [(g, c) for g, c in every
                 if folded in (c.id, c.name.casefold(), *(n.casefold() for n in c.names.values()))
                 or (sep and group_ref.strip() == g.id and choice_ref.strip() == c.id)]
        found = exact or [(g, c) for g, c in every
                          if _words(c.id) <= _words(ref) or _words(c.name) <= _words(ref)
                          or any(_words(n) <= _words(ref) for n in c.names.values())]
        if len(found) != 1:
            say = (_("{item} has no option “{option}”.") if not found
                   else _("“{option}” could mean several options of {item}."))
            raise OrderError(say.format(item=_item_name(item), option=ref) + " " + offered(item, currency))
        group, choice = found[0]
        pairs.append((group.id, choice.id))
    return pairs
