-- A row that must not be sent before a given moment (a pre-order's reminder to staff shortly before
-- its pickup): epoch seconds of the calendar clock, NULL = as soon as possible (every row before this).
-- The worker leaves a row alone until then, and it does not hold up its chat's queue meanwhile:
-- the head of a chat's queue is taken among the rows whose moment has come (storage/outbox.py).
ALTER TABLE outbox ADD COLUMN not_before REAL;
CREATE INDEX outbox_not_before ON outbox(not_before) WHERE status = 'pending' AND not_before IS NOT NULL;
