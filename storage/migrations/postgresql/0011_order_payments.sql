-- Paying in the chat (PAYMENT_PROVIDER_TOKEN, Telegram's invoices): how each order is paid.
-- 'pickup'   = paid at the counter (payments off; every order placed before this migration),
-- 'awaiting' = an invoice was sent and not paid yet: staff do not see the order,
-- 'paid'     = Telegram reported successful_payment; a cancelled paid order is due a refund.
-- Independent of the other orders migrations: only adds columns.
ALTER TABLE orders ADD COLUMN payment TEXT NOT NULL DEFAULT 'pickup';
ALTER TABLE orders ADD COLUMN telegram_payment_charge_id TEXT;
ALTER TABLE orders ADD COLUMN provider_payment_charge_id TEXT;
ALTER TABLE orders ADD COLUMN paid_at DOUBLE PRECISION;
