"""Ordering in plain words: the agent's tools search_menu, add_to_cart, show_cart, place_order.

They call the same OrderService as the buttons, so the same rules hold. A refused
request (unknown or sold-out item, impossible quantity, closed kitchen) comes back
as `{"error": "..."}` with a sentence the model can pass on. `place_order` never
places anything: it freezes the summary and sends it to the customer with a
Confirm button (through the outbox); only that button places the order.
"""

from __future__ import annotations

import re
from typing import Any

from bot.knowledge import MenuItem
from bot.orders import options as item_options
from bot.orders import texts
from bot.orders.models import MAX_LINE_QUANTITY, MAX_NOTE_CHARS, Cart, ChosenOption, OrderError
from bot.orders.pickup import describe
from bot.orders.service import OrderService
from bot.outbox import Outbox

MAX_RESULTS = 8
_WORD = re.compile(r"[a-zà-ÿ0-9]+")


def _words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall(text.lower()):
        words.add(word)
        if len(word) > 3 and word.endswith("s"):
            words.add(word[:-1])  # "cappuccinos" finds "cappuccino"
    return words


def _score(item: MenuItem, category: str, query: set[str]) -> int:
    names = _words(" ".join([item.name, item.id.replace("-", " "), *item.aliases]))
    rest = _words(" ".join([category, item.description, *item.tags]))
    return sum(3 for w in query if w in names) + sum(1 for w in query if w in rest)


def search(orders: OrderService, query: str) -> list[MenuItem]:
    menu = orders.menu
    wanted = _words(query)
    scored = []
    for category in menu.categories:
        for item in category.items:
            score = _score(item, category.name, wanted)
            if score:
                scored.append((score, item.model_copy(update={"category_id": category.id})))
    scored.sort(key=lambda pair: -pair[0])
    return [item for _, item in scored[:MAX_RESULTS]]


def describe_item(orders: OrderService, item: MenuItem) -> dict[str, Any]:
    menu = orders.menu
    out: dict[str, Any] = {"id": item.id, "name": item.name, "category": item.category_id}
    if item.sizes:
        out["sizes"] = {size: menu.price(cents) for size, cents in item.sizes.items()}
    else:
        out["price"] = menu.price(item.price_cents or 0)
    out.update(tags=list(item.tags), allergens=list(item.allergens), available=item.available)
    if item.options:
        out["options"] = [{
            "group": group.id, "name": group.name,
            "choose": (f"{group.min_choices}" if group.min_choices == group.max_choices
                       else f"{group.min_choices} to {group.max_choices}"),
            **({"default": list(group.default)} if group.default else {}),
            "choices": [{"id": c.id, "name": c.name, **({"price": "+" + menu.price(c.price_cents)}
                                                       if c.price_cents else {})} for c in group.choices],
        } for group in item.options]
    return out


def options_view(orders: OrderService, options: tuple[ChosenOption, ...]) -> list[str]:
    """A line's options for the model: the ones that differ from the item as described, with their prices."""
    menu = orders.menu
    return [o.name + (f" (+{menu.price(o.price_cents)})" if o.price_cents else "")
            for o in item_options.shown(options)]


def candidates(orders: OrderService, ref: str) -> list[MenuItem]:
    """The items `ref` may mean: one for an id, a name (in any language) or an alias; else the best word matches."""
    menu = orders.menu
    ref = ref.strip()
    exact = menu.item(ref.lower())
    if exact is not None:
        return [exact]
    folded = ref.casefold()
    for item in menu.items():
        names = (item.name, *item.names.values(), *item.aliases)
        if folded in (n.casefold() for n in names):
            return [item]
    found = search(orders, ref)
    if not found:
        return []
    wanted = _words(ref)

    def name_hits(item: MenuItem) -> int:
        return len(wanted & _words(" ".join([item.name, item.id.replace("-", " "), *item.aliases])))

    best = max(name_hits(i) for i in found)
    return [i for i in found if name_hits(i) == best] if best else found


def resolve_item(orders: OrderService, ref: str) -> MenuItem:
    """An item id, a name or an alias; a vague word must point at one item only."""
    found = candidates(orders, ref)
    if not found:
        raise OrderError(f"There's nothing called “{ref.strip()}” on our menu.")
    if len(found) > 1:
        names = ", ".join(i.name for i in found[:5])
        raise OrderError(f"“{ref.strip()}” could be several items: {names}. Which one?")
    return found[0]


def cart_view(orders: OrderService, cart: Cart) -> dict[str, Any]:
    menu = orders.menu
    lines = []
    for line in cart.lines:
        entry: dict[str, Any] = {"item": line.name or line.item_id, "quantity": line.quantity}
        if line.size:
            entry["size"] = line.size
        if item_options.shown(line.options):
            entry["options"] = options_view(orders, line.options)
        if line.orderable:
            entry["price"] = menu.price(line.line_total_cents)
        else:
            entry["problem"] = "sold out or no longer on the menu: must be removed before ordering"
        lines.append(entry)
    return {"lines": lines, "total": menu.price(cart.total_cents), "items": cart.units}


class OrderTools:
    """The tool handlers, bound to the order service and the outbox."""

    def __init__(self, orders: OrderService, outbox: Outbox) -> None:
        self.orders = orders
        self.outbox = outbox

    async def search_menu(self, user_id: int, args: dict[str, Any]) -> dict[str, Any]:
        query = str(args.get("query") or "").strip()
        if not query:
            return {"error": "Say what to look for, e.g. a drink, a dish or a dietary need."}
        found = search(self.orders, query)
        if not found:
            return {"results": [], "note": f"Nothing on the menu matches “{query}”."}
        return {"results": [describe_item(self.orders, item) for item in found]}

    async def add_to_cart(self, user_id: int, args: dict[str, Any]) -> dict[str, Any]:
        try:
            quantity = args.get("quantity", 1)
            if isinstance(quantity, float) and quantity.is_integer():
                quantity = int(quantity)
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                raise OrderError(f"The quantity must be a whole number from 1 to {MAX_LINE_QUANTITY}.")
            item = resolve_item(self.orders, str(args.get("item") or ""))
            wanted = args.get("options") or []
            if isinstance(wanted, str):
                wanted = [wanted]
            if not isinstance(wanted, list):
                raise OrderError("options must be a list of choices, e.g. [\"oat\", \"extra-shot\"].")
            if wanted and not item.options:
                raise OrderError(item_options.offered(item, self.orders.menu.currency))
            line, cart = await self.orders.add_to_cart(
                user_id, item.id, args.get("size") or None, quantity,
                item_options.match(item, [str(w) for w in wanted], self.orders.menu.currency))
        except OrderError as exc:
            return {"error": str(exc)}
        added: dict[str, Any] = {"item": line.name, "quantity": quantity, **({"size": line.size} if line.size else {})}
        if item_options.shown(line.options):
            added["options"] = options_view(self.orders, line.options)
        if line.unit_price_cents is not None:
            added["price_each"] = self.orders.menu.price(line.unit_price_cents)
        return {"added": added, "cart": cart_view(self.orders, cart)}

    async def show_cart(self, user_id: int, args: dict[str, Any]) -> dict[str, Any]:
        cart = await self.orders.cart(user_id)
        if cart.empty:
            return {"lines": [], "note": "The cart is empty."}
        return cart_view(self.orders, cart)

    async def place_order(self, user_id: int, args: dict[str, Any]) -> dict[str, Any]:
        pickup = str(args.get("pickup_time") or "asap")
        note = str(args.get("note") or "")
        try:
            summary = await self.orders.place_order(user_id, user_id, pickup=pickup, note=note, source="agent")
        except OrderError as exc:
            return {"error": str(exc)}
        menu = self.orders.menu
        await self.outbox.send_message(user_id, texts.summary_page(menu, summary, self.orders.today()),
                                       self.orders.buttons.summary(summary.token))
        return {
            "status": "awaiting_confirmation",
            "summary": {**cart_view(self.orders, await self.orders.cart(user_id)),
                        "pickup": describe(summary.pickup, self.orders.today()), "note": summary.note,
                        "payment": "in the chat: an invoice follows the confirmation" if summary.pay_in_chat
                        else "at pickup"},
            "instruction": "The order is NOT placed yet. A summary with a 'Confirm order' button was sent to the "
                           "customer: ask them to check it and press Confirm order.",
        }

    def register(self, registry: Any) -> None:
        """Add the four tools to the agent's registry (`agent.tools`)."""
        registry.register(
            "search_menu", "Find menu items by name, ingredient, category or dietary need. Returns ids, prices "
            "(per size where sizes exist), tags, allergens, whether the item is available today and its options "
            "(choice groups such as milk or an extra shot, with what each choice adds to the price, how many to "
            "choose and the default when the customer says nothing).",
            {"type": "object", "properties": {"query": {"type": "string", "description": "what to look for"}},
             "required": ["query"]},
            self.search_menu,
        )
        registry.register(
            "add_to_cart", "Add an item to the customer's cart when they ask to order it. Use the item id from "
            "search_menu (a name works too). Sizes only for items that have them. Options only from the item's "
            "options in search_menu; a required option without a default must be asked for. The same item "
            "with other options is a separate cart line.",
            {"type": "object", "properties": {
                "item": {"type": "string", "description": "menu item id or name"},
                "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_QUANTITY, "default": 1},
                "size": {"type": "string", "description": "e.g. small or large, for items with sizes"},
                "options": {"type": "array", "items": {"type": "string"},
                            "description": "choice ids (or names) from the item's options, e.g. [\"oat\", "
                                           "\"extra-shot\"]; leave out for the defaults"},
            }, "required": ["item"]},
            self.add_to_cart,
        )
        registry.register(
            "show_cart", "Show what is in the customer's cart and the total.",
            {"type": "object", "properties": {}},
            self.show_cart,
        )
        registry.register(
            "place_order", "When the customer wants to order what is in the cart: prepares the order and sends "
            "them a summary with a Confirm button. The order is placed only when they press it.",
            {"type": "object", "properties": {
                "pickup_time": {"type": "string", "description": "'asap', a time today like 12:30, "
                                "or a day and a time like 'tomorrow 8:15' or 'Saturday 9:30'"},
                "note": {"type": "string", "maxLength": MAX_NOTE_CHARS,
                         "description": "optional note for the barista, e.g. oat milk"},
            }},
            self.place_order,
        )
