-- Each batch's oldest event's time, so that a listing resumed at a cursor skips the batches
-- holding only newer events instead of decoding them. NULL for batches written before it.
ALTER TABLE audit_batches ADD COLUMN first_at_micros INTEGER;
