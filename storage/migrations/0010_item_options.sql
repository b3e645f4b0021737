-- Options (modifiers) of menu items: milk, an extra shot (menu.yaml `options`, bot/orders/options.py).
-- A cart line is one (item, size, options): the same latte with oat milk and with dairy milk are two
-- lines, so the key gains the options ("milk=oat;shot=extra-shot", '' for none). SQLite cannot change a
-- UNIQUE constraint in place: the table is rebuilt (ids kept, so AUTOINCREMENT continues after them).
CREATE TABLE cart_items_0010 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    size TEXT NOT NULL DEFAULT '',       -- '' for items without sizes
    options TEXT NOT NULL DEFAULT '',    -- the chosen options as group=choice pairs; '' for none
    quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at REAL NOT NULL,
    UNIQUE (user_id, item_id, size, options)
);
INSERT INTO cart_items_0010(id, user_id, item_id, size, options, quantity, added_at)
    SELECT id, user_id, item_id, size, '', quantity, added_at FROM cart_items;
DROP TABLE cart_items;
ALTER TABLE cart_items_0010 RENAME TO cart_items;
CREATE INDEX cart_items_user ON cart_items(user_id);

-- An ordered item's options as they were at order time (JSON list of {group, choice, name, price_cents,
-- default}); unit_price_cents already includes their prices. '[]' for items ordered without options.
ALTER TABLE order_items ADD COLUMN options_json TEXT NOT NULL DEFAULT '[]';
