"""The menu's dietary tags as words of the reader's language ("gluten-free" → "glutenfrei").

menu.yaml writes tags in English (they are also the offline answerer's and the model's vocabulary);
what customers read goes through the catalogues. A tag not listed here is shown as the menu writes it.
"""

from __future__ import annotations

from bot.i18n import N_, _

TAG_LABEL = {
    "vegan": N_("vegan"), "vegetarian": N_("vegetarian"), "gluten-free": N_("gluten-free"),
    "dairy-free": N_("dairy-free"), "nut-free": N_("nut-free"), "spicy": N_("spicy"),
}


def tag_label(tag: str) -> str:
    return _(TAG_LABEL[tag]) if tag in TAG_LABEL else tag


def tag_labels(tags: tuple[str, ...] | list[str]) -> str:
    return ", ".join(tag_label(t) for t in tags)
