-- The simulator's sweep reads only what is due: an open session's expiry or a delayed
-- payment's settling (simulator clock, unix ms), a pending webhook delivery's next attempt
-- (real unix ms). NULL: nothing to do. Rows from before are marked due once; the sweep
-- then stores their real moment. Expand-only.

ALTER TABLE simulator_objects ADD COLUMN due_at BIGINT;

UPDATE simulator_objects SET due_at = 0 WHERE kind IN ('checkout.session', 'x_simulator_delivery');

CREATE INDEX simulator_objects_due ON simulator_objects (kind, due_at);
