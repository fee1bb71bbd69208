-- Why a payment's Checkout Session could not be created (a missing Stripe connection, the
-- key's permissions, Stripe's refusal), for the owner's Troubleshooting. Expand-only.

ALTER TABLE payments ADD COLUMN open_error TEXT;
