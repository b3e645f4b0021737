-- Orders, carts, checkout state and the Telegram outbox.
-- Orders are business records, kept forever by default: only when ORDERS_RETENTION_DAYS is set
-- (unset by default) may `main.py purge` remove finished orders older than that (bot/ops/retention.py).

-- A customer's cart: one row per (item, size); quantities bounded by the service.
CREATE TABLE cart_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    size TEXT NOT NULL DEFAULT '',       -- '' for items without sizes
    quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at REAL NOT NULL,
    UNIQUE (user_id, item_id, size)
);
CREATE INDEX cart_items_user ON cart_items(user_id);

-- Checkout in progress (survives restarts). `token` ties the summary's confirm button to
-- this exact checkout; `fingerprint` to the cart and menu version the summary showed.
CREATE TABLE checkouts (
    user_id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    token TEXT NOT NULL,
    step TEXT NOT NULL CHECK (step IN ('pickup', 'note', 'confirm')),
    pickup TEXT,                         -- 'asap' or 'HH:MM' (cafe local time)
    note TEXT,
    fingerprint TEXT,
    source TEXT NOT NULL DEFAULT 'buttons',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_day TEXT NOT NULL,          -- cafe-local date, YYYY-MM-DD
    day_seq INTEGER NOT NULL,            -- the human number: #007 is the 7th order of the day
    user_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,            -- where the customer hears about changes
    customer_name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('new', 'accepted', 'preparing', 'ready', 'completed', 'cancelled')),
    pickup TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL,
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    menu_version TEXT NOT NULL,
    source TEXT NOT NULL,                -- 'buttons' | 'agent'
    checkout_token TEXT NOT NULL UNIQUE, -- a second press of the same confirm button finds this order
    staff_chat_id INTEGER,               -- the staff message edited in place on each change
    staff_message_id INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (business_day, day_seq)
);
CREATE INDEX orders_status ON orders(status);
CREATE INDEX orders_user ON orders(user_id, created_at);

CREATE TABLE order_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    item_id TEXT NOT NULL,
    name TEXT NOT NULL,                  -- copied at order time: a later menu edit changes nothing here
    size TEXT NOT NULL DEFAULT '',
    quantity INTEGER NOT NULL CHECK (quantity >= 1),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    line_total_cents INTEGER NOT NULL CHECK (line_total_cents >= 0)
);
CREATE INDEX order_items_order ON order_items(order_id);

CREATE TABLE order_status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    from_status TEXT,                    -- NULL for the first row (placed)
    to_status TEXT NOT NULL,
    changed_by INTEGER,                  -- Telegram user id (the customer when placed)
    changed_by_name TEXT NOT NULL,
    changed_at REAL NOT NULL
);
CREATE INDEX order_status_history_order ON order_status_history(order_id, id);

-- Every staff notification, staff card edit and customer status message is written here
-- first (in the same transaction as the change that caused it) and delivered by the worker.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                  -- 'message' | 'order_card'
    chat_id INTEGER NOT NULL,
    payload TEXT NOT NULL,               -- JSON: {"text", "reply_markup"} or {"order_id"}
    order_id INTEGER,
    dedupe_key TEXT,                     -- one pending row per key (a card edit renders the latest state)
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until REAL,                    -- a 'sending' row whose lease expired was cut off by a crash
    last_error TEXT,
    message_id INTEGER,                  -- Telegram's id of the delivered message
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_chat ON outbox(chat_id, status, id);
CREATE UNIQUE INDEX outbox_pending_dedupe ON outbox(dedupe_key) WHERE status = 'pending' AND dedupe_key IS NOT NULL;
