-- The agent: dialogs with their messages (the history sent to the model) and one event per turn.

-- A dialog is one conversation of one user; /reset or a long pause starts a new one.
CREATE TABLE dialogs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    started_at REAL NOT NULL,
    last_message_at REAL NOT NULL,
    ended_at REAL                       -- set by /reset; a dialog idle too long is simply not continued
);
CREATE INDEX dialogs_user ON dialogs(user_id, last_message_at);
CREATE INDEX dialogs_last_message ON dialogs(last_message_at);

CREATE TABLE dialog_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dialog_id INTEGER NOT NULL REFERENCES dialogs(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX dialog_messages_dialog ON dialog_messages(dialog_id, id);
CREATE INDEX dialog_messages_created ON dialog_messages(created_at);

-- One row per agent turn, for latency, cost, error-rate and cache-hit figures.
CREATE TABLE agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,                 -- text | voice | api | console
    latency_ms REAL NOT NULL,
    source TEXT NOT NULL,               -- llm | cache | semantic | offline
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    error_class TEXT,                   -- why the model was not used or failed (timeout, rate_limit, ...)
    tool_calls INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX agent_events_created ON agent_events(created_at);
CREATE INDEX agent_events_user ON agent_events(user_id, created_at);
