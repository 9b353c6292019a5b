-- A flow's automatic retries of its crashed runs (the process or the kernel died, not the user's code):
-- at most `retries` new runs per original run, each started `retry_delay` seconds after the crash.
ALTER TABLE flows ADD COLUMN retries integer NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN retry_delay integer NOT NULL DEFAULT 0;
