-- PostgreSQL twin of ../0010_item_options.sql: the same columns and key; PostgreSQL changes the
-- UNIQUE constraint in place (its name is the one PostgreSQL gave the constraint of 0006_orders.sql).
-- A cart line is one (item, size, options): the same latte with oat milk and with dairy milk are two lines.
ALTER TABLE cart_items ADD COLUMN options TEXT NOT NULL DEFAULT '';
ALTER TABLE cart_items DROP CONSTRAINT cart_items_user_id_item_id_size_key;
ALTER TABLE cart_items ADD CONSTRAINT cart_items_user_id_item_id_size_options_key
    UNIQUE (user_id, item_id, size, options);

-- An ordered item's options as they were at order time (JSON list of {group, choice, name, price_cents,
-- default}); unit_price_cents already includes their prices. '[]' for items ordered without options.
ALTER TABLE order_items ADD COLUMN options_json TEXT NOT NULL DEFAULT '[]';
