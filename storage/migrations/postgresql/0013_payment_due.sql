-- PostgreSQL twin of ../0013_payment_due.sql: DOUBLE PRECISION for SQLite's REAL epoch seconds.
-- Paying in the chat: the moment an order awaiting its payment expires (PAYMENT_EXPIRY_MINUTES after the
-- confirm, by the calendar clock, in epoch seconds; pushed back a little while Telegram charges an approved
-- pre-checkout). Past it, the expiry job cancels the unpaid order (bot/orders/expiry.py). NULL: not awaiting
-- a payment. Orders already awaiting one get 30 minutes (the setting's default) from their placing.
ALTER TABLE orders ADD COLUMN payment_due_at DOUBLE PRECISION;
UPDATE orders SET payment_due_at = created_at + 1800 WHERE payment = 'awaiting';
CREATE INDEX orders_payment_due ON orders(payment_due_at) WHERE payment = 'awaiting' AND status = 'new';
