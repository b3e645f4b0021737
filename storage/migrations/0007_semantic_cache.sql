-- The semantic cache's entries: standalone, non-personal questions and the answers given.
-- Vectors are the embedding (little-endian float32) so a restart needs no re-encoding.
-- prompt_version, menu_version, embedding_model and llm_model form the entry's generation:
-- an entry of another generation is never served and is deleted when the generation changes.
CREATE TABLE semantic_cache (
    key TEXT PRIMARY KEY,               -- hash of the normalised question and the generation
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    vector BLOB NOT NULL,
    prompt_version TEXT NOT NULL,
    menu_version TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    llm_model TEXT NOT NULL,
    source TEXT NOT NULL,               -- 'chat' | 'faq'
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    last_used_at REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX semantic_cache_expires ON semantic_cache(expires_at);
