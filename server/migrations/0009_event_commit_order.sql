-- Event streams read a workspace's events in the order they became visible: by (tx_id, id), not by id.
-- A transaction gets its xid at its first write and an event its id at the insert, so an older
-- transaction can insert a higher id and commit first; a stream that sent that event and then asked
-- for "ids after it" never saw the lower id committed later. Events held back until every older
-- transaction ended (tx_id < the snapshot's xmin) and then read by (tx_id, id) form one order that
-- only grows at its end: anything that becomes visible later has a tx_id at or above that xmin.
CREATE INDEX events_workspace_tx_idx ON events (workspace_id, tx_id, id);
