"""Carts, checkouts and orders in the database.

Methods taking `tx` run inside a transaction the service opened (an order, its
items, its first history row and its outbox rows commit together or not at all);
the others open their own. Orders are never deleted here or anywhere else.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from bot.orders.models import (
    OPEN_STATUSES,
    Checkout,
    ChosenOption,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    StatusChange,
)
from storage.db import Database, Row, Transaction, now


def _order(row: Row, lines: list[OrderLine] | None = None, history: list[StatusChange] | None = None) -> Order:
    data = dict(row)
    data.pop("checkout_token", None)
    data["status"] = OrderStatus(data["status"])
    data["payment"] = Payment(data.get("payment") or Payment.PICKUP)
    return Order(**data, lines=lines or [], history=history or [])


def _options_json(options: tuple[ChosenOption, ...]) -> str:
    """An ordered item's options as copied at order time: ids, the name and the price then."""
    return json.dumps([asdict(o) for o in options], ensure_ascii=False, separators=(",", ":"))


def _order_line(row: Row) -> OrderLine:
    data = dict(row)
    options = tuple(ChosenOption(**o) for o in json.loads(data.pop("options_json") or "[]"))
    return OrderLine(**data, options=options)


def _checkout(row: Row) -> Checkout:
    return Checkout(**dict(row))


class OrderRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- cart ---------------------------------------------------------------------------
    async def cart_rows(self, user_id: int, conn: Transaction | None = None) -> list[Row]:
        return await (conn or self._db).fetchall(
            "SELECT id, item_id, size, options, quantity FROM cart_items WHERE user_id = ? ORDER BY id", (user_id,)
        )

    async def add_cart_quantity(self, tx: Transaction, user_id: int, item_id: str, size: str,
                                quantity: int, options: str = "") -> int:
        """Add to the (item, size, options) line, creating it; returns the line's id."""
        await tx.execute(
            """INSERT INTO cart_items(user_id, item_id, size, options, quantity, added_at) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(user_id, item_id, size, options)
               DO UPDATE SET quantity = cart_items.quantity + excluded.quantity""",
            (user_id, item_id, size, options, quantity, now()),
        )
        line_id = await tx.fetchval(
            "SELECT id FROM cart_items WHERE user_id = ? AND item_id = ? AND size = ? AND options = ?",
            (user_id, item_id, size, options),
        )
        await self.drop_checkout(tx, user_id)
        return int(line_id or 0)

    async def set_cart_quantity(self, tx: Transaction, user_id: int, line_id: int, quantity: int) -> bool:
        """Only the owner's line changes (the WHERE names both); False if it is not theirs or gone."""
        if quantity <= 0:
            changed = await tx.execute("DELETE FROM cart_items WHERE id = ? AND user_id = ?", (line_id, user_id))
        else:
            changed = await tx.execute(
                "UPDATE cart_items SET quantity = ? WHERE id = ? AND user_id = ?", (quantity, line_id, user_id)
            )
        if changed:
            await self.drop_checkout(tx, user_id)
        return changed > 0

    async def clear_cart(self, tx: Transaction, user_id: int) -> None:
        await tx.execute("DELETE FROM cart_items WHERE user_id = ?", (user_id,))
        await self.drop_checkout(tx, user_id)

    # --- checkout --------------------------------------------------------------------------
    async def checkout(self, user_id: int, conn: Transaction | None = None) -> Checkout | None:
        row = await (conn or self._db).fetchone("SELECT * FROM checkouts WHERE user_id = ?", (user_id,))
        return _checkout(row) if row else None

    async def start_checkout(self, user_id: int, chat_id: int, token: str, source: str) -> None:
        ts = now()
        await self._db.execute(
            """INSERT INTO checkouts(user_id, chat_id, token, step, pickup, note, fingerprint, source,
               created_at, updated_at) VALUES (?, ?, ?, 'pickup', NULL, NULL, NULL, ?, ?, ?)
               ON CONFLICT(user_id) DO UPDATE SET chat_id = excluded.chat_id, token = excluded.token,
                   step = excluded.step, pickup = NULL, note = NULL, fingerprint = NULL, source = excluded.source,
                   created_at = excluded.created_at, updated_at = excluded.updated_at""",
            (user_id, chat_id, token, source, ts, ts),
        )

    async def update_checkout(self, user_id: int, token: str, **values: Any) -> bool:
        """Change the checkout only if the token still matches (a stale button changes nothing)."""
        allowed = {"step", "pickup", "note", "fingerprint", "chat_id", "source"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"bad checkout fields {sorted(values)}")
        assignments = ", ".join(f"{k} = ?" for k in values)
        params = [*values.values(), now(), user_id, token]
        changed = await self._db.execute_rowcount(
            f"UPDATE checkouts SET {assignments}, updated_at = ? WHERE user_id = ? AND token = ?", params
        )
        return changed > 0

    async def drop_checkout(self, tx: Transaction, user_id: int) -> None:
        await tx.execute("DELETE FROM checkouts WHERE user_id = ?", (user_id,))

    async def delete_checkout(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM checkouts WHERE user_id = ?", (user_id,))

    # --- orders ------------------------------------------------------------------------------
    async def order_id_for_token(self, conn: Transaction, token: str) -> int | None:
        found = await conn.fetchval("SELECT id FROM orders WHERE checkout_token = ?", (token,))
        return None if found is None else int(found)

    async def insert_order(
        self, tx: Transaction, *, business_day: str, user_id: int, chat_id: int, customer_name: str,
        pickup: str, note: str, currency: str, menu_version: str, source: str, checkout_token: str,
        staff_chat_id: int | None, lines: list[OrderLine], changed_by_name: str, payment: Payment = Payment.PICKUP,
        payment_due_at: float | None = None,
    ) -> int:
        """The order, its items and its first history row; the day's next number is taken in the same write."""
        ts = now()
        day_seq = int(await tx.fetchval(
            "SELECT COALESCE(MAX(day_seq), 0) + 1 FROM orders WHERE business_day = ?", (business_day,)
        ) or 1)
        order_id = int(await tx.insert(
            """INSERT INTO orders(business_day, day_seq, user_id, chat_id, customer_name, status, pickup, note,
               currency, total_cents, menu_version, source, checkout_token, staff_chat_id, staff_message_id,
               created_at, updated_at, payment, payment_due_at)
               VALUES (?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?) RETURNING id""",
            (business_day, day_seq, user_id, chat_id, customer_name, pickup, note, currency,
             sum(line.line_total_cents for line in lines), menu_version, source, checkout_token, staff_chat_id,
             ts, ts, payment.value, payment_due_at),
        ) or 0)
        await tx.executemany(
            """INSERT INTO order_items(order_id, item_id, name, size, quantity, unit_price_cents, line_total_cents,
               options_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [(order_id, li.item_id, li.name, li.size, li.quantity, li.unit_price_cents, li.line_total_cents,
              _options_json(li.options)) for li in lines],
        )
        await tx.execute(
            """INSERT INTO order_status_history(order_id, from_status, to_status, changed_by, changed_by_name,
               changed_at) VALUES (?, NULL, 'new', ?, ?, ?)""",
            (order_id, user_id, changed_by_name, ts),
        )
        return order_id

    async def change_status(
        self, tx: Transaction, order_id: int, from_status: OrderStatus, to_status: OrderStatus,
        by: int | None, by_name: str, *, unpaid: bool = False, due_by: float | None = None,
    ) -> bool:
        """Compare-and-set: two staff pressing at once cannot both move the order.

        `unpaid`: only while it still awaits its payment (one paid meanwhile is not dropped as unpayable);
        `due_by`: and only if its payment was due by then (an expiry never beats a payment held in flight).
        """
        ts = now()
        sql = "UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?"
        params: list[Any] = [to_status.value, ts, order_id, from_status.value]
        if unpaid or due_by is not None:
            sql += " AND payment = 'awaiting'"
        if due_by is not None:
            sql += " AND payment_due_at <= ?"
            params.append(due_by)
        changed = await tx.execute(sql, params)
        if changed == 0:
            return False
        await tx.execute(
            """INSERT INTO order_status_history(order_id, from_status, to_status, changed_by, changed_by_name,
               changed_at) VALUES (?, ?, ?, ?, ?, ?)""",
            (order_id, from_status.value, to_status.value, by, by_name, ts),
        )
        return True

    async def mark_paid(self, tx: Transaction, order_id: int, telegram_charge_id: str,
                        provider_charge_id: str) -> bool:
        """Record Telegram's successful_payment once: False if the order was not awaiting it (a redelivery)."""
        ts = now()
        changed = await tx.execute(
            """UPDATE orders SET payment = 'paid', telegram_payment_charge_id = ?, provider_payment_charge_id = ?,
               paid_at = ?, updated_at = ? WHERE id = ? AND payment = 'awaiting'""",
            (telegram_charge_id, provider_charge_id, ts, ts, order_id),
        )
        return changed > 0

    async def hold_payment(self, order_id: int, now: float, until: float) -> bool:
        """An approved pre-checkout: the unpaid order is not expired before `until` while Telegram charges.

        False if it is no longer awaiting its payment, or its time ran out before `now` (then it is refused).
        """
        changed = await self._db.execute_rowcount(
            """UPDATE orders SET payment_due_at = CASE WHEN payment_due_at < ? THEN ? ELSE payment_due_at END
               WHERE id = ? AND status = 'new' AND payment = 'awaiting'
                 AND (payment_due_at IS NULL OR payment_due_at > ?)""",
            (until, until, order_id, now),
        )
        return changed > 0

    async def due_unpaid(self, now: float, limit: int) -> list[int]:
        """Orders still awaiting their payment whose time ran out by `now`: newest first."""
        rows = await self._db.fetchall(
            """SELECT id FROM orders WHERE payment = 'awaiting' AND status = 'new' AND payment_due_at <= ?
               ORDER BY id DESC LIMIT ?""", (now, limit),
        )
        return [int(r["id"]) for r in rows]

    async def set_staff_message(self, tx: Transaction, order_id: int, chat_id: int, message_id: int) -> None:
        await tx.execute(
            "UPDATE orders SET staff_chat_id = ?, staff_message_id = ? WHERE id = ?", (chat_id, message_id, order_id)
        )

    async def get(self, order_id: int, conn: Transaction | None = None) -> Order | None:
        fetch = (conn or self._db).fetchall

        rows = await fetch("SELECT * FROM orders WHERE id = ?", (order_id,))
        if not rows:
            return None
        items = await fetch(
            """SELECT item_id, name, size, quantity, unit_price_cents, line_total_cents, options_json
               FROM order_items WHERE order_id = ? ORDER BY id""", (order_id,)
        )
        history = await fetch(
            """SELECT from_status, to_status, changed_by, changed_by_name, changed_at FROM order_status_history
               WHERE order_id = ? ORDER BY id""", (order_id,)
        )
        return _order(
            rows[0],
            [_order_line(r) for r in items],
            [StatusChange(
                from_status=OrderStatus(h["from_status"]) if h["from_status"] else None,
                to_status=OrderStatus(h["to_status"]), changed_by=h["changed_by"],
                changed_by_name=h["changed_by_name"], changed_at=h["changed_at"],
            ) for h in history],
        )

    async def list_ids(self, *, statuses: tuple[OrderStatus, ...] = OPEN_STATUSES, user_id: int | None = None,
                       limit: int = 50, unpaid: bool = True) -> list[int]:
        """`unpaid=False`: without the orders still awaiting their payment (which staff never see)."""
        marks = ",".join("?" for _ in statuses)
        sql = f"SELECT id FROM orders WHERE status IN ({marks})"
        params: list[Any] = [s.value for s in statuses]
        if not unpaid:
            sql += " AND payment != 'awaiting'"
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        sql += " ORDER BY id DESC LIMIT ?" if user_id is not None else " ORDER BY id LIMIT ?"
        params.append(limit)
        return [int(r["id"]) for r in await self._db.fetchall(sql, params)]
