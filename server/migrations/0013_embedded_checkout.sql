-- Paying inside the chat (Stripe's embedded Checkout page): a payment's session is made on
-- Stripe's hosted page (NULL) or embedded ('embedded_page'), Checkout's `ui_mode`, fixed
-- with the other create parameters before the first call; an embedded session's client
-- secret is kept sealed with the relay's key, for the page that mounts it. Expand-only.

ALTER TABLE payments ADD COLUMN ui_mode TEXT;
ALTER TABLE payments ADD COLUMN client_secret_enc TEXT;
