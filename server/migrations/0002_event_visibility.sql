-- Resumable event streams read "events after id N". A bigserial id is taken at insert but becomes
-- visible at commit, so a slow transaction can commit id 10 after a reader already saw 11 and moved
-- its cursor past 10. Each event records its transaction; readers only see events whose transaction
-- is older than every transaction still open, so nothing with a lower id can appear later.
ALTER TABLE events ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();
