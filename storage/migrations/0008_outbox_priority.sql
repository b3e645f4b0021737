-- Within one chat the outbox delivers by (priority, id) instead of id alone, so a new
-- order's card reaches the staff group before edits of older cards when Telegram's
-- 20-messages-a-minute group limit makes them queue. 0 = urgent, 1 = normal.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
CREATE INDEX outbox_chat_priority ON outbox(chat_id, status, priority, id);
