-- PostgreSQL twin of ../0001_core.sql: the same tables, columns and indexes; BIGINT for SQLite's 64-bit INTEGER,
-- identity columns for AUTOINCREMENT, DOUBLE PRECISION for REAL epoch seconds, BYTEA for BLOB.
-- Core tables: the people who talk to the bot.
CREATE TABLE users (
    id BIGINT PRIMARY KEY,              -- Telegram user id
    username TEXT,
    first_name TEXT,
    language_code TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    last_seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX users_last_seen ON users(last_seen_at);

-- Small key/value table for runtime settings that survive restarts (admin /limits etc.).
CREATE TABLE runtime_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    updated_by BIGINT
);
