-- PostgreSQL twin of ../0007_semantic_cache.sql: the same tables, columns and indexes; BIGINT for SQLite's 64-bit INTEGER,
-- identity columns for AUTOINCREMENT, DOUBLE PRECISION for REAL epoch seconds, BYTEA for BLOB.
-- The semantic cache's entries: standalone, non-personal questions and the answers given.
-- Vectors are the embedding (little-endian float32) so a restart needs no re-encoding.
-- prompt_version, menu_version, embedding_model and llm_model form the entry's generation:
-- an entry of another generation is never served and is deleted when the generation changes.
CREATE TABLE semantic_cache (
    key TEXT PRIMARY KEY,               -- hash of the normalised question and the generation
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    vector BYTEA NOT NULL,
    prompt_version TEXT NOT NULL,
    menu_version TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    llm_model TEXT NOT NULL,
    source TEXT NOT NULL,               -- 'chat' | 'faq'
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION NOT NULL,
    hits BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX semantic_cache_expires ON semantic_cache(expires_at);
