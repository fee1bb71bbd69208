-- Paying inside the chat (Stripe's embedded Checkout page): a payment's session is made on
-- Stripe's hosted page (NULL) or embedded ('embedded_page'), Checkout's `ui_mode`, fixed
-- with the other create parameters before the first call, with the publishable key that
-- mounts it (the site's key may change later; its sessions do not); an embedded session's
-- client secret is kept sealed with the relay's key. Expand-only.

ALTER TABLE payments ADD COLUMN ui_mode TEXT;
ALTER TABLE payments ADD COLUMN client_secret_enc TEXT;
ALTER TABLE payments ADD COLUMN publishable_key TEXT;
