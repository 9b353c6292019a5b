-- Why a task run is in its state, as its last change said: a task skipped because an upstream task did
-- not complete is stored Cancelled ("upstream task 'extract' is Failed"), and a reloaded run must tell
-- it from a task the user cancelled, as the live event did.
ALTER TABLE task_runs ADD COLUMN state_reason text;
