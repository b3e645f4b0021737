-- PostgreSQL twin of ../0002_knowledge.sql: the same tables, columns and indexes; BIGINT for SQLite's 64-bit INTEGER,
-- identity columns for AUTOINCREMENT, DOUBLE PRECISION for REAL epoch seconds, BYTEA for BLOB.
-- The last good menu and cafe facts, so a bad edit of the YAML never leaves the bot without them.
CREATE TABLE knowledge_snapshots (
    kind TEXT PRIMARY KEY,          -- 'menu' | 'cafe'
    version TEXT NOT NULL,          -- content hash
    content TEXT NOT NULL,          -- validated model as JSON
    loaded_at DOUBLE PRECISION NOT NULL
);

-- The menu in queryable form (orders copy prices from here at order time).
CREATE TABLE menu_items (
    id TEXT PRIMARY KEY,
    category_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT,
    sizes_json TEXT NOT NULL,
    tags_json TEXT NOT NULL,
    allergens_json TEXT NOT NULL,
    available BIGINT NOT NULL,
    position BIGINT NOT NULL,
    menu_version TEXT NOT NULL
);
