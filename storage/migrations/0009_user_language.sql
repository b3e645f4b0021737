-- The language a customer chose with /language ('en', 'de', ...); NULL = follow Telegram's language_code.
ALTER TABLE users ADD COLUMN language TEXT;
