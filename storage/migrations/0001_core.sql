-- Core tables: the people who talk to the bot.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,              -- Telegram user id
    username TEXT,
    first_name TEXT,
    language_code TEXT,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
CREATE INDEX users_last_seen ON users(last_seen_at);

-- Small key/value table for runtime settings that survive restarts (admin /limits etc.).
CREATE TABLE runtime_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    updated_by INTEGER
);
