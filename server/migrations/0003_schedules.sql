-- Schedules that the scheduler can plan safely, and per-flow overlap rules.
--
-- overlap: what a scheduled run does when it falls due while runs of its flow are active (Pending or
-- Running): 'queue' waits for a free slot, 'skip' is recorded as Skipped, 'parallel' starts anyway.
-- max_concurrent bounds active runs (NULL: 1 for queue and skip, no bound for parallel).
ALTER TABLE flows ADD COLUMN overlap text NOT NULL DEFAULT 'queue'
  CHECK (overlap IN ('queue', 'skip', 'parallel'));
ALTER TABLE flows ADD COLUMN max_concurrent integer
  CHECK (max_concurrent IS NULL OR max_concurrent >= 1);

-- revision: bumped by every change, so a scheduler that read an older version of the schedule cannot
-- plan runs from it after the change removed its runs. planned_until: every tick up to this time has
-- its run (or its Skipped record); the scheduler plans after it, and after downtime the ticks between
-- it and now are the missed ones.
ALTER TABLE schedules ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE schedules ADD COLUMN revision integer NOT NULL DEFAULT 1;
ALTER TABLE schedules ADD COLUMN planned_until timestamptz;
ALTER TABLE schedules ADD CONSTRAINT schedules_missed_policy_check
  CHECK (missed_policy IN ('skip', 'latest', 'all'));

-- The scheduler's questions: which not-started runs fall due when, and which belong to a schedule.
CREATE INDEX flow_runs_not_started_idx ON flow_runs (scheduled_at)
  WHERE state IN ('Scheduled', 'Late');
CREATE INDEX flow_runs_schedule_idx ON flow_runs (schedule_id);
CREATE INDEX flow_runs_flow_active_idx ON flow_runs (flow_id)
  WHERE state IN ('Pending', 'Running');
